using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Net.Http;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Security.Claims;
using System.Text;
using System.Threading;
using System.Threading.Tasks;

namespace DownstreamApi
{
    /// <summary>
    /// Calls the downstream APIs of an appsettings.json the way Id.Web's <c>IDownstreamApi</c>
    /// does, with app tokens or the client certificate (MTLS), on behalf of a user (the
    /// <c>...ForUser...</c> methods), or as an Entra agent identity (<see cref="AgentIdentityExtension"/>). It owns the native client: its
    /// credentials, connection pools and token cache. Thread-safe: share one instance. After
    /// <see cref="Dispose"/> every member throws <see cref="ObjectDisposedException"/>; calls
    /// already running complete first and the native client is freed when the last returns.
    /// </summary>
    /// <remarks>
    /// The async methods run the native call on the thread pool. A cancellation token already
    /// cancelled throws <see cref="OperationCanceledException"/> before anything is sent;
    /// cancelled during a call, the task completes cancelled at once while the native call, which
    /// cannot be interrupted, finishes in the background within its timeout (TimeoutSeconds of the
    /// API or the override, else Http.TimeoutSeconds, 100 s by default) and its response is
    /// dropped. Failures to get a response throw <see cref="DownstreamApiException"/> subclasses;
    /// any HTTP status is a response.
    /// </remarks>
    public sealed partial class DownstreamApiClient : IDownstreamApi, IDisposable
    {
        private const int ErrorBodyCharacters = 512;
        private readonly ClientHandle handle;
        // Each API's configured options, read once: a client's configuration never changes, and
        // reading them (native JSON, DataContractJsonSerializer) costs far more than a copy.
        private readonly ConcurrentDictionary<string, DownstreamApiOptions> configuredOptions =
            new ConcurrentDictionary<string, DownstreamApiOptions>(StringComparer.OrdinalIgnoreCase);
        private int disposed;

        private DownstreamApiClient(ClientHandle handle)
        {
            this.handle = handle;
            // One native observer per client raises CertificateChanged. The delegate lives in the
            // handle, which outlives every native call that can invoke it.
            NativeObserverCallback observer = OnNativeEvent;
            handle.KeepAlive(observer);
            Ensure.Success(NativeMethods.dsapi_client_add_observer(handle, observer, IntPtr.Zero));
        }

        /// <summary>Raised when a certificate is selected, deselected after a rejection, or used
        /// successfully (Id.Web's certificate observer), on the thread making the call, possibly
        /// on several threads at once. Exceptions thrown by a handler are logged and swallowed:
        /// they cannot cross into the native library.</summary>
        public event EventHandler<CertificateChangedEventArgs> CertificateChanged;

        /// <summary>Creates a client from the JSON text of an appsettings.json (.NET-style
        /// environment overrides such as <c>AzureAd__ClientId</c> applied). Credentials load on
        /// first use.</summary>
        /// <exception cref="DownstreamApiConfigurationException">Malformed JSON, a wrong type or a missing value.</exception>
        public static DownstreamApiClient FromJson(string configJson)
        {
            byte[] json = Utf8.ToNative(Required(configJson, "configJson"));
            ClientHandle created;
            uint status = NativeMethods.dsapi_client_new(json, out created);
            return Adopt(status, created);
        }

        /// <summary>Creates a client from the appsettings.json file at <paramref name="path"/>.</summary>
        /// <exception cref="DownstreamApiIOException">The file cannot be read.</exception>
        /// <exception cref="DownstreamApiConfigurationException">Its content is not a valid configuration.</exception>
        public static DownstreamApiClient FromFile(string path)
        {
            byte[] nativePath = Utf8.ToNative(Required(path, "path"));
            ClientHandle created;
            uint status = NativeMethods.dsapi_client_new_from_file(nativePath, out created);
            return Adopt(status, created);
        }

        private static DownstreamApiClient Adopt(uint status, ClientHandle created)
        {
            try
            {
                Ensure.Success(status);
                return new DownstreamApiClient(created);
            }
            catch
            {
                created.Dispose();
                throw;
            }
        }

        /// <summary>Calls the API <paramref name="serviceName"/> (a key of DownstreamApis, ignoring
        /// case). <paramref name="downstreamApiOptionsOverride"/> receives the API's options as
        /// configured and may change them for this call; <paramref name="content"/> (may be null) is
        /// the body, its Content-Type and other content headers sent with it.</summary>
        /// <returns>The response with any status; its Content holds the body and content headers,
        /// its RequestMessage the method and URL (query redacted).</returns>
        /// <exception cref="DownstreamApiException">No response could be obtained (a subclass per status).</exception>
        /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
        public async Task<HttpResponseMessage> CallApiForAppAsync(
            string serviceName,
            Action<DownstreamApiOptions> downstreamApiOptionsOverride = null,
            HttpContent content = null,
            CancellationToken cancellationToken = default(CancellationToken))
        {
            cancellationToken.ThrowIfCancellationRequested();
            // The delegate runs on the caller's thread and context, before any await, as in Id.Web.
            var edited = EditFor(serviceName, downstreamApiOptionsOverride, content);
            byte[] body = content == null ? null : await content.ReadAsByteArrayAsync().ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
            var call = Prepare(serviceName, edited, content, body);
            return await Background.Run(() => Send(call), cancellationToken).ConfigureAwait(false);
        }

        /// <summary>The synchronous <see cref="CallApiForAppAsync"/>, on the caller's thread (for
        /// hosts without async). The content is read synchronously.</summary>
        public HttpResponseMessage CallApiForApp(
            string serviceName,
            Action<DownstreamApiOptions> downstreamApiOptionsOverride = null,
            HttpContent content = null)
        {
            var edited = EditFor(serviceName, downstreamApiOptionsOverride, content);
            byte[] body = content == null ? null : content.ReadAsByteArrayAsync().GetAwaiter().GetResult();
            return Send(Prepare(serviceName, edited, content, body));
        }

        /// <summary>GETs the API and deserializes its JSON answer (an empty body is null).</summary>
        /// <exception cref="HttpRequestException">The API answered with a status outside 2xx (the
        /// message has the status and the start of the body), as EnsureSuccessStatusCode.</exception>
        public Task<TOutput> GetForAppAsync<TOutput>(
            string serviceName,
            Action<DownstreamApiOptions> downstreamApiOptionsOverride = null,
            CancellationToken cancellationToken = default(CancellationToken)) where TOutput : class
        {
            return SendAsync<object, TOutput>("GET", serviceName, null, false, downstreamApiOptionsOverride, AppToken, cancellationToken);
        }

        /// <summary>POSTs <paramref name="input"/> serialized as JSON (an HttpContent is sent as
        /// it is) and deserializes the answer; see <c>GetForAppAsync</c>.</summary>
        public Task<TOutput> PostForAppAsync<TInput, TOutput>(
            string serviceName,
            TInput input,
            Action<DownstreamApiOptions> downstreamApiOptionsOverride = null,
            CancellationToken cancellationToken = default(CancellationToken)) where TOutput : class
        {
            return SendAsync<TInput, TOutput>("POST", serviceName, input, true, downstreamApiOptionsOverride, AppToken, cancellationToken);
        }

        /// <summary>PUT, as <c>PostForAppAsync</c>.</summary>
        public Task<TOutput> PutForAppAsync<TInput, TOutput>(
            string serviceName,
            TInput input,
            Action<DownstreamApiOptions> downstreamApiOptionsOverride = null,
            CancellationToken cancellationToken = default(CancellationToken)) where TOutput : class
        {
            return SendAsync<TInput, TOutput>("PUT", serviceName, input, true, downstreamApiOptionsOverride, AppToken, cancellationToken);
        }

        /// <summary>PATCH, as <c>PostForAppAsync</c>.</summary>
        public Task<TOutput> PatchForAppAsync<TInput, TOutput>(
            string serviceName,
            TInput input,
            Action<DownstreamApiOptions> downstreamApiOptionsOverride = null,
            CancellationToken cancellationToken = default(CancellationToken)) where TOutput : class
        {
            return SendAsync<TInput, TOutput>("PATCH", serviceName, input, true, downstreamApiOptionsOverride, AppToken, cancellationToken);
        }

        /// <summary>DELETE, as <c>PostForAppAsync</c>; a null <paramref name="input"/> sends no body.</summary>
        public Task<TOutput> DeleteForAppAsync<TInput, TOutput>(
            string serviceName,
            TInput input,
            Action<DownstreamApiOptions> downstreamApiOptionsOverride = null,
            CancellationToken cancellationToken = default(CancellationToken)) where TOutput : class
        {
            return SendAsync<TInput, TOutput>("DELETE", serviceName, input, input != null, downstreamApiOptionsOverride, AppToken, cancellationToken);
        }

        /// <summary>"Bearer &lt;token&gt;" with an app token for <paramref name="scopes"/>
        /// (space-separated, e.g. "api://orders/.default"), from the cache when fresh. Of
        /// <paramref name="downstreamApiOptions"/> (may be null) the AcquireTokenOptions are used
        /// (Tenant, ForceRefresh, Claims, CorrelationId). The header is a secret: do not log it.</summary>
        /// <exception cref="UnsupportedException">A ProtocolScheme other than Bearer.</exception>
        public async Task<string> CreateAuthorizationHeaderForAppAsync(
            string scopes,
            AuthorizationHeaderProviderOptions downstreamApiOptions = null,
            CancellationToken cancellationToken = default(CancellationToken))
        {
            cancellationToken.ThrowIfCancellationRequested();
            Required(scopes, "scopes");
            AcquireTokenOptions tokenOptions = null;
            if (downstreamApiOptions != null)
            {
                string scheme = downstreamApiOptions.ProtocolScheme;
                if (!string.IsNullOrEmpty(scheme) && !string.Equals(scheme, "Bearer", StringComparison.OrdinalIgnoreCase))
                {
                    throw Ensure.ExceptionFor(Status.Unsupported, "an app token header is a Bearer header; ProtocolScheme '" + scheme + "' has none here");
                }
                tokenOptions = downstreamApiOptions.AcquireTokenOptions;
            }
            AccessToken token = await Background.Run(() => AcquireTokenForApp(scopes, tokenOptions), cancellationToken).ConfigureAwait(false);
            return "Bearer " + token.Token;
        }

        /// <summary>The Authorization header a call to the configured API
        /// <paramref name="serviceName"/> would carry, e.g. "Bearer eyJ..." (a secret: do not log
        /// it), for requests sent with another HTTP stack.</summary>
        /// <exception cref="UnsupportedException">An MTLS API: the certificate authenticates, no header.</exception>
        public async Task<string> CreateAuthorizationHeaderAsync(
            string serviceName,
            Action<DownstreamApiOptions> downstreamApiOptionsOverride = null,
            CancellationToken cancellationToken = default(CancellationToken))
        {
            cancellationToken.ThrowIfCancellationRequested();
            var call = Prepare(serviceName, EditFor(serviceName, downstreamApiOptionsOverride, null), null, null);
            return await Background.Run(() => AuthorizationHeader(call), cancellationToken).ConfigureAwait(false);
        }

        /// <summary>Calls the API <paramref name="serviceName"/> on behalf of the user whose access
        /// token this web API received (<paramref name="userToken"/>: the incoming token itself,
        /// without "Bearer "), as Id.Web's <c>CallApiForUserAsync</c>: the API's token is one for that
        /// user (on-behalf-of, Entra ID), cached for that user only; with <c>RequestAppToken</c> true
        /// the app's token. Otherwise as <see cref="CallApiForAppAsync"/>. Without a user token
        /// (null) the call is made only when the options name a user another way, as in Id.Web: an
        /// agent's user (<c>WithAgentUserIdentity</c>) or a long-running session
        /// (<see cref="AcquireTokenOptions.LongRunningWebApiSessionKey"/>) started earlier.</summary>
        /// <exception cref="ArgumentNullException">No user token and no agent's user or session.</exception>
        /// <exception cref="ArgumentException">An empty user token.</exception>
        /// <exception cref="DownstreamApiUserInteractionRequiredException">The user must act (MFA,
        /// consent, ...): its <c>Claims</c> are the challenge to send back to the user's client.</exception>
        /// <exception cref="DownstreamApiConfigurationException">An MTLS or MTLS_POP API, or a generic
        /// OpenID authority (on-behalf-of is Entra ID's).</exception>
        public async Task<HttpResponseMessage> CallApiForUserAsync(
            string serviceName,
            Action<DownstreamApiOptions> downstreamApiOptionsOverride = null,
            string userToken = null,
            HttpContent content = null,
            CancellationToken cancellationToken = default(CancellationToken))
        {
            cancellationToken.ThrowIfCancellationRequested();
            var edited = EditFor(serviceName, downstreamApiOptionsOverride, content);
            byte[] user = UserTokenFor(userToken, edited);
            byte[] body = content == null ? null : await content.ReadAsByteArrayAsync().ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
            var call = Prepare(serviceName, edited, content, body, user);
            return await Background.Run(() => Send(call), cancellationToken).ConfigureAwait(false);
        }

        /// <summary><see cref="CallApiForUserAsync(string, Action{DownstreamApiOptions}, string, HttpContent, CancellationToken)"/>
        /// for the user of a <see cref="ClaimsPrincipal"/> (Id.Web's parameter): the token is its
        /// bootstrap context (<c>ClaimsIdentity.BootstrapContext</c>, kept by ASP.NET Core's JWT
        /// bearer handler with <c>TokenValidationParameters.SaveSigninToken = true</c>): a string, or
        /// an object with a string <c>EncodedToken</c>, <c>RawData</c> or <c>Token</c> property
        /// (JsonWebToken, JwtSecurityToken, WIF's BootstrapContext), read without referencing them.</summary>
        /// <exception cref="ArgumentException">The principal carries no bootstrap token.</exception>
        public Task<HttpResponseMessage> CallApiForUserAsync(
            string serviceName,
            Action<DownstreamApiOptions> downstreamApiOptionsOverride,
            ClaimsPrincipal user,
            HttpContent content = null,
            CancellationToken cancellationToken = default(CancellationToken))
        {
            return CallApiForUserAsync(serviceName, downstreamApiOptionsOverride, BootstrapToken(user), content, cancellationToken);
        }

        /// <summary>The synchronous <c>CallApiForUserAsync</c>, on the caller's thread.</summary>
        public HttpResponseMessage CallApiForUser(
            string serviceName,
            Action<DownstreamApiOptions> downstreamApiOptionsOverride = null,
            string userToken = null,
            HttpContent content = null)
        {
            var edited = EditFor(serviceName, downstreamApiOptionsOverride, content);
            byte[] user = UserTokenFor(userToken, edited);
            byte[] body = content == null ? null : content.ReadAsByteArrayAsync().GetAwaiter().GetResult();
            return Send(Prepare(serviceName, edited, content, body, user));
        }

        /// <summary>GET on behalf of the user, as <c>GetForAppAsync</c> with the user's token as in
        /// <c>CallApiForUserAsync</c>.</summary>
        public Task<TOutput> GetForUserAsync<TOutput>(
            string serviceName,
            Action<DownstreamApiOptions> downstreamApiOptionsOverride = null,
            string userToken = null,
            CancellationToken cancellationToken = default(CancellationToken)) where TOutput : class
        {
            return SendAsync<object, TOutput>("GET", serviceName, null, false, downstreamApiOptionsOverride, UserToken(userToken), cancellationToken);
        }

        /// <summary>POST on behalf of the user, as <c>PostForAppAsync</c>.</summary>
        public Task<TOutput> PostForUserAsync<TInput, TOutput>(
            string serviceName,
            TInput input,
            Action<DownstreamApiOptions> downstreamApiOptionsOverride = null,
            string userToken = null,
            CancellationToken cancellationToken = default(CancellationToken)) where TOutput : class
        {
            return SendAsync<TInput, TOutput>("POST", serviceName, input, true, downstreamApiOptionsOverride, UserToken(userToken), cancellationToken);
        }

        /// <summary>PUT on behalf of the user, as <c>PutForAppAsync</c>.</summary>
        public Task<TOutput> PutForUserAsync<TInput, TOutput>(
            string serviceName,
            TInput input,
            Action<DownstreamApiOptions> downstreamApiOptionsOverride = null,
            string userToken = null,
            CancellationToken cancellationToken = default(CancellationToken)) where TOutput : class
        {
            return SendAsync<TInput, TOutput>("PUT", serviceName, input, true, downstreamApiOptionsOverride, UserToken(userToken), cancellationToken);
        }

        /// <summary>PATCH on behalf of the user, as <c>PatchForAppAsync</c>.</summary>
        public Task<TOutput> PatchForUserAsync<TInput, TOutput>(
            string serviceName,
            TInput input,
            Action<DownstreamApiOptions> downstreamApiOptionsOverride = null,
            string userToken = null,
            CancellationToken cancellationToken = default(CancellationToken)) where TOutput : class
        {
            return SendAsync<TInput, TOutput>("PATCH", serviceName, input, true, downstreamApiOptionsOverride, UserToken(userToken), cancellationToken);
        }

        /// <summary>DELETE on behalf of the user, as <c>DeleteForAppAsync</c>.</summary>
        public Task<TOutput> DeleteForUserAsync<TInput, TOutput>(
            string serviceName,
            TInput input,
            Action<DownstreamApiOptions> downstreamApiOptionsOverride = null,
            string userToken = null,
            CancellationToken cancellationToken = default(CancellationToken)) where TOutput : class
        {
            return SendAsync<TInput, TOutput>("DELETE", serviceName, input, input != null, downstreamApiOptionsOverride, UserToken(userToken), cancellationToken);
        }

        /// <summary>The Authorization header a call for the user to the configured API
        /// <paramref name="serviceName"/> would carry ("Bearer eyJ...", a secret: do not log it),
        /// Id.Web's <c>CreateAuthorizationHeaderForUserAsync</c> for an API of DownstreamApis (the
        /// library gets user tokens for a configured API, not for bare scopes: set
        /// <c>options.Scopes</c> in the delegate for others). <paramref name="userToken"/> as for
        /// <c>CallApiForUserAsync</c>.</summary>
        /// <exception cref="DownstreamApiUserInteractionRequiredException">The user must act.</exception>
        public async Task<string> CreateAuthorizationHeaderForUserAsync(
            string serviceName,
            Action<DownstreamApiOptions> downstreamApiOptionsOverride = null,
            string userToken = null,
            CancellationToken cancellationToken = default(CancellationToken))
        {
            cancellationToken.ThrowIfCancellationRequested();
            var edited = EditFor(serviceName, downstreamApiOptionsOverride, null);
            byte[] user = UserTokenFor(userToken, edited);
            var call = Prepare(serviceName, edited, null, null, user);
            return await Background.Run(() => AuthorizationHeader(call), cancellationToken).ConfigureAwait(false);
        }

        /// <summary><c>CreateAuthorizationHeaderForUserAsync</c> for the bootstrap token of
        /// <paramref name="user"/>, read as by <c>CallApiForUserAsync</c>.</summary>
        public Task<string> CreateAuthorizationHeaderForUserAsync(
            string serviceName,
            Action<DownstreamApiOptions> downstreamApiOptionsOverride,
            ClaimsPrincipal user,
            CancellationToken cancellationToken = default(CancellationToken))
        {
            return CreateAuthorizationHeaderForUserAsync(serviceName, downstreamApiOptionsOverride, BootstrapToken(user), cancellationToken);
        }

        /// <summary>An app token for <paramref name="scopes"/> (space-separated) with its expiry,
        /// on the caller's thread; from the cache when fresh.</summary>
        /// <exception cref="InvalidArgumentException">No scope.</exception>
        /// <exception cref="DownstreamApiConfigurationException">No authority or client id configured.</exception>
        /// <exception cref="TokenAcquisitionException">The token endpoint refused.</exception>
        public AccessToken AcquireTokenForApp(string scopes, AcquireTokenOptions options = null)
        {
            byte[] nativeScopes = Utf8.ToNative(Required(scopes, "scopes"));
            JsonObject json = OptionsJson.TokenOverrides(null, options);
            IntPtr token;
            long expiresOn;
            uint status = NativeMethods.dsapi_client_acquire_token(
                Handle(), nativeScopes, json == null ? null : Utf8.ToNative(json.ToString()), out token, out expiresOn);
            Ensure.Success(status);
            return new AccessToken(TakeString(token), DateTimeOffset.FromUnixTimeSeconds(expiresOn));
        }

        /// <summary>The options of the API <paramref name="serviceName"/> as configured (defaults
        /// filled in), as an override delegate receives them. Header and query parameter values
        /// may be keys: their names are given with null values.</summary>
        /// <exception cref="UnknownApiException">No such API.</exception>
        public DownstreamApiOptions GetOptions(string serviceName)
        {
            return CachedOptions(serviceName).Clone();
        }

        /// <summary>The cached configured options; callers copy before changing them.</summary>
        private DownstreamApiOptions CachedOptions(string serviceName)
        {
            ClientHandle client = Handle();
            DownstreamApiOptions options;
            if (configuredOptions.TryGetValue(Required(serviceName, "serviceName"), out options))
            {
                return options;
            }
            IntPtr json;
            Ensure.Success(NativeMethods.dsapi_client_api_options(client, Utf8.ToNative(serviceName), null, out json));
            return configuredOptions.GetOrAdd(serviceName, OptionsJson.Parse(TakeString(json)));
        }

        /// <summary>Every AzureAd.ClientCredentials entry as a JSON array, for a health endpoint:
        /// index, sourceType, location, version (Key Vault entries), skipped, loaded, kind, selectedFor
        /// and, for a certificate,
        /// thumbprint, thumbprintSha256, subject, issuer, notBefore, notAfter, daysLeft; error for an
        /// entry that failed to load. Entries not loaded yet are loaded now. Holds no secret.</summary>
        public string DescribeCredentials()
        {
            IntPtr json;
            Ensure.Success(NativeMethods.dsapi_client_describe_credentials(Handle(), out json));
            return TakeString(json);
        }

        /// <summary>The library's counters (the whole process's, every client's) and this client's
        /// certificates as a JSON object, for a metrics endpoint: calls (api, protocol, outcome,
        /// count), tokenRequests (grant, count), tokenCache (layer, result, count), tlsHandshakes
        /// (full, resumed), retries (remedy, count) and certificates (subject, thumbprint, daysLeft:
        /// those this client has selected). Loads nothing; cheap enough for every scrape.</summary>
        public string GetMetricsJson()
        {
            IntPtr json;
            Ensure.Success(NativeMethods.dsapi_client_metrics(Handle(), out json));
            return TakeString(json);
        }

        /// <summary>Reloads every ClientCredentials entry from its source now (when your secret
        /// store says a credential changed). Each is checked before it replaces the one in use.</summary>
        /// <exception cref="CredentialUnavailableException">Entries did not load (named); they keep their credential.</exception>
        public void ReloadCredentials()
        {
            Ensure.Success(NativeMethods.dsapi_client_reload_credentials(Handle()));
        }

        /// <summary>Replaces ClientCredentials[<paramref name="index"/>] with a credential given in
        /// memory: a PFX or PEM (opened with <paramref name="password"/>) for a certificate entry.
        /// Checked first: on failure the old credential stays in use.</summary>
        /// <exception cref="CredentialUnavailableException">It does not load (wrong password, expired, ...).</exception>
        public void SetCredential(int index, byte[] data, string password = null)
        {
            if (index < 0) throw new ArgumentOutOfRangeException("index");
            if (data == null) throw new ArgumentNullException("data");
            Ensure.Success(NativeMethods.dsapi_client_set_credential(
                Handle(), (UIntPtr)(uint)index, data, (UIntPtr)(uint)data.Length,
                password == null ? null : Utf8.ToNative(password)));
        }

        /// <summary>Replaces the ClientSecret entry at <paramref name="index"/> with
        /// <paramref name="clientSecret"/>. Checked first: on failure the old one stays.</summary>
        public void SetClientSecret(int index, string clientSecret)
        {
            if (clientSecret == null) throw new ArgumentNullException("clientSecret");
            SetCredential(index, System.Text.Encoding.UTF8.GetBytes(clientSecret));
        }

        /// <summary>Frees the native client (after calls still running on other threads return).
        /// Calling it again does nothing.</summary>
        public void Dispose()
        {
            if (Interlocked.Exchange(ref disposed, 1) == 0)
            {
                handle.Dispose();
            }
        }

        /// <summary>Whose token a typed call carries: the app's, or a user's (perhaps none given).</summary>
        private sealed class Caller
        {
            internal bool ForUser;
            internal string UserToken;
        }

        private static readonly Caller AppToken = new Caller();

        private static Caller UserToken(string userToken)
        {
            return new Caller { ForUser = true, UserToken = userToken };
        }

        private async Task<TOutput> SendAsync<TInput, TOutput>(
            string method,
            string serviceName,
            TInput input,
            bool hasInput,
            Action<DownstreamApiOptions> downstreamApiOptionsOverride,
            Caller caller,
            CancellationToken cancellationToken) where TOutput : class
        {
            cancellationToken.ThrowIfCancellationRequested();
            // The method is the one the name says (Id.Web's read-only HttpMethod for these).
            Action<DownstreamApiOptions> edit = options =>
            {
                if (downstreamApiOptionsOverride != null)
                {
                    downstreamApiOptionsOverride(options);
                }
                options.HttpMethod = method;
            };
            var edited = Edit(serviceName, edit);
            byte[] user = caller.ForUser ? UserTokenFor(caller.UserToken, edited) : null;
            HttpContent content = null;
            if (hasInput)
            {
                content = edited.Options.Serializer != null
                    ? edited.Options.Serializer(input)
                    : JsonSerialization.Serialize(input);
            }
            byte[] body = content == null ? null : await content.ReadAsByteArrayAsync().ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
            var call = Prepare(serviceName, edited, content, body, user);
            using (HttpResponseMessage response = await Background.Run(() => Send(call), cancellationToken).ConfigureAwait(false))
            {
                byte[] answer = await response.Content.ReadAsByteArrayAsync().ConfigureAwait(false);
                if (!response.IsSuccessStatusCode)
                {
                    string text = Encoding.UTF8.GetString(answer);
                    throw new HttpRequestException(string.Format(
                        "{0} {1}: {2}",
                        (int)response.StatusCode,
                        response.ReasonPhrase,
                        text.Length > ErrorBodyCharacters ? text.Substring(0, ErrorBodyCharacters) + "…" : text));
                }
                if (edited.Options.Deserializer != null)
                {
                    return (TOutput)edited.Options.Deserializer(response.Content);
                }
                return (TOutput)JsonSerialization.Deserialize(answer, typeof(TOutput));
            }
        }

        /// <summary>The options as configured and as the delegate left them (both null without one).</summary>
        private sealed class EditedOptions
        {
            internal DownstreamApiOptions Configured;
            internal DownstreamApiOptions Options;
        }

        /// <summary>What one native call sends, encoded before it leaves the caller's thread.</summary>
        private sealed class NativeCall
        {
            internal byte[] Name;
            internal byte[] Overrides;
            internal byte[] Body;
            // The user's token (NUL-terminated UTF-8) for dsapi_client_call_for_user; null: dsapi_client_call.
            internal byte[] UserToken;
        }

        private EditedOptions Edit(string serviceName, Action<DownstreamApiOptions> edit)
        {
            var edited = new EditedOptions();
            if (edit != null)
            {
                edited.Configured = CachedOptions(serviceName);
                edited.Options = edited.Configured.Clone();
                edit(edited.Options);
            }
            return edited;
        }

        /// <summary>Runs the delegate; content with headers needs the options too, since its
        /// headers become options (Content-Type is ContentType, the others extra headers).</summary>
        private EditedOptions EditFor(string serviceName, Action<DownstreamApiOptions> edit, HttpContent content)
        {
            Required(serviceName, "serviceName");
            bool contentHeaders = content != null && content.Headers.GetEnumerator().MoveNext();
            return Edit(serviceName, edit == null && contentHeaders ? (o => { }) : edit);
        }

        private NativeCall Prepare(string serviceName, EditedOptions edited, HttpContent content, byte[] body)
        {
            return Prepare(serviceName, edited, content, body, null);
        }

        private NativeCall Prepare(string serviceName, EditedOptions edited, HttpContent content, byte[] body, byte[] userToken)
        {
            if (content != null && edited.Options != null)
            {
                foreach (var header in content.Headers)
                {
                    if (string.Equals(header.Key, "Content-Length", StringComparison.OrdinalIgnoreCase))
                    {
                        continue;
                    }
                    string value = string.Join(", ", header.Value);
                    if (string.Equals(header.Key, "Content-Type", StringComparison.OrdinalIgnoreCase))
                    {
                        edited.Options.ContentType = value;
                    }
                    else
                    {
                        if (edited.Options.ExtraHeaderParameters == null)
                        {
                            edited.Options.ExtraHeaderParameters = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
                        }
                        edited.Options.ExtraHeaderParameters[header.Key] = value;
                    }
                }
            }
            JsonObject overrides = edited.Options == null ? null : OptionsJson.Overrides(edited.Configured, edited.Options);
            return new NativeCall
            {
                Name = Utf8.ToNative(Required(serviceName, "serviceName")),
                Overrides = overrides == null ? null : Utf8.ToNative(overrides.ToString()),
                Body = body,
                UserToken = userToken,
            };
        }

        private HttpResponseMessage Send(NativeCall call)
        {
            int length = call.Body == null ? 0 : call.Body.Length;
            ResponseHandle response;
            uint status = call.UserToken == null
                ? NativeMethods.dsapi_client_call(
                    Handle(), call.Name, call.Overrides, length == 0 ? null : call.Body, new UIntPtr((uint)length), out response)
                : NativeMethods.dsapi_client_call_for_user(
                    Handle(), call.Name, call.UserToken, call.Overrides, length == 0 ? null : call.Body, new UIntPtr((uint)length), out response);
            using (response)
            {
                Ensure.Success(status);
                return ResponseMessages.CopyFrom(response);
            }
        }

        private string AuthorizationHeader(NativeCall call)
        {
            IntPtr header;
            uint status = call.UserToken == null
                ? NativeMethods.dsapi_client_authorization_header(Handle(), call.Name, call.Overrides, out header)
                : NativeMethods.dsapi_client_authorization_header_for_user(Handle(), call.Name, call.UserToken, call.Overrides, out header);
            Ensure.Success(status);
            return TakeString(header);
        }

        /// <summary>As Id.Web: "AllocateForMe" in the options the override delegate edited is
        /// replaced by the session's key, so the caller who kept that options object reads it there
        /// and names the session later. The key is the library's own: base64url(SHA-256(token)).</summary>
        private static void AllocateSessionKey(AcquireTokenOptions token, string userToken)
        {
            if (token == null || token.LongRunningWebApiSessionKey != AcquireTokenOptions.LongRunningWebApiSessionKeyAuto)
            {
                return;
            }
            using (var sha = System.Security.Cryptography.SHA256.Create())
            {
                byte[] digest = sha.ComputeHash(Encoding.UTF8.GetBytes(userToken));
                token.LongRunningWebApiSessionKey = Convert.ToBase64String(digest).TrimEnd('=').Replace('+', '-').Replace('/', '_');
            }
        }

        /// <summary>The user's token as the library takes it; null (a call as the app's client)
        /// when none is given and the options name the user another way: an agent's user, or a
        /// long-running session whose key is not "AllocateForMe" (which needs the token).</summary>
        private static byte[] UserTokenFor(string userToken, EditedOptions edited)
        {
            var token = edited.Options == null ? null : edited.Options.AcquireTokenOptions;
            if (!string.IsNullOrWhiteSpace(userToken))
            {
                AllocateSessionKey(token, userToken);
                return Utf8.ToNative(userToken);
            }
            bool agentUser = token != null && !string.IsNullOrEmpty(token.AgentIdentity) &&
                (!string.IsNullOrEmpty(token.AgentUsername) || !string.IsNullOrEmpty(token.AgentUserId));
            bool session = token != null && !string.IsNullOrWhiteSpace(token.LongRunningWebApiSessionKey) &&
                token.LongRunningWebApiSessionKey != AcquireTokenOptions.LongRunningWebApiSessionKeyAuto;
            if (agentUser || session)
            {
                return null;
            }
            if (userToken == null)
            {
                throw new ArgumentNullException("userToken", "a call for a user needs the user's token (or an agent's user, or a long-running session key, in the options)");
            }
            throw new ArgumentException("the user's token is empty", "userToken");
        }

        /// <summary>The incoming token a ClaimsPrincipal keeps as its bootstrap context.</summary>
        private static string BootstrapToken(ClaimsPrincipal user)
        {
            if (user == null)
            {
                throw new ArgumentNullException("user");
            }
            var identities = new List<ClaimsIdentity>();
            var primary = user.Identity as ClaimsIdentity;
            if (primary != null)
            {
                identities.Add(primary);
            }
            identities.AddRange(user.Identities);
            foreach (var identity in identities)
            {
                string token = TokenOf(identity == null ? null : identity.BootstrapContext);
                if (!string.IsNullOrWhiteSpace(token))
                {
                    return token;
                }
            }
            throw new ArgumentException(
                "the ClaimsPrincipal has no bootstrap token (ClaimsIdentity.BootstrapContext): keep the incoming token " +
                "(TokenValidationParameters.SaveSigninToken = true) or pass it as a string", "user");
        }

        private static string TokenOf(object context)
        {
            if (context == null)
            {
                return null;
            }
            var text = context as string;
            if (text != null)
            {
                return text;
            }
            foreach (string name in new[] { "EncodedToken", "RawData", "Token" })
            {
                PropertyInfo property = context.GetType().GetProperty(name, BindingFlags.Public | BindingFlags.Instance);
                if (property != null && property.PropertyType == typeof(string) && property.GetIndexParameters().Length == 0)
                {
                    return (string)property.GetValue(context, null);
                }
            }
            return null;
        }

        private ClientHandle Handle()
        {
            // A Dispose racing past this check is caught by the SafeHandle marshaller, which throws
            // ObjectDisposedException too.
            if (Volatile.Read(ref disposed) != 0)
            {
                throw new ObjectDisposedException(typeof(DownstreamApiClient).FullName);
            }
            return handle;
        }

        private static string Required(string value, string name)
        {
            if (value == null)
            {
                throw new ArgumentNullException(name);
            }
            return value;
        }

        private static string TakeString(IntPtr value)
        {
            try
            {
                return Utf8.FromNative(value);
            }
            finally
            {
                NativeMethods.dsapi_string_free(value);
            }
        }

        private void OnNativeEvent(IntPtr userData, IntPtr nativeEvent)
        {
            try
            {
                var handlers = CertificateChanged;
                if (handlers == null || nativeEvent == IntPtr.Zero)
                {
                    return;
                }
                var native = (NativeCredentialEvent)Marshal.PtrToStructure(nativeEvent, typeof(NativeCredentialEvent));
                var args = new CertificateChangedEventArgs(native);
                foreach (EventHandler<CertificateChangedEventArgs> handler in handlers.GetInvocationList())
                {
                    try
                    {
                        handler(this, args);
                    }
                    catch (Exception error)
                    {
                        Logging.ReportCallbackFailure("CertificateChanged handler", error);
                    }
                }
            }
            catch (Exception error)
            {
                // Never let an exception unwind into native code.
                Logging.ReportCallbackFailure("certificate observer", error);
            }
        }
    }
}
