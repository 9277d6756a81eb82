using System;
using System.Runtime.InteropServices;
using System.Threading;

namespace DownstreamApi
{
    /// <summary>
    /// A client built from an appsettings.json: its APIs, credentials, connection pools and token
    /// caches. Thread-safe: share one instance between threads. After <see cref="Dispose"/> every
    /// member throws <see cref="ObjectDisposedException"/>; calls already running on other threads
    /// complete first and the native client is freed when the last of them returns.
    /// </summary>
    public sealed class DownstreamApiClient : IDisposable
    {
        private readonly ClientHandle handle;
        private int disposed;

        private DownstreamApiClient(ClientHandle handle)
        {
            this.handle = handle;
            // One native observer per client raises the CredentialEvent event. The delegate lives
            // in the handle, which outlives every native call that can invoke it.
            NativeObserverCallback observer = OnNativeEvent;
            handle.KeepAlive(observer);
            Ensure.Success(NativeMethods.dsapi_client_add_observer(handle, observer, IntPtr.Zero));
        }

        /// <summary>Raised for each credential event (Selected, Deselected, SuccessfullyUsed) on the
        /// thread making the call, possibly on several threads at once. Exceptions thrown by a
        /// handler are swallowed: they cannot cross into the native library.</summary>
        public event EventHandler<CredentialEventArgs> CredentialEvent;

        /// <summary>Creates a client from the JSON text of an appsettings.json.</summary>
        /// <exception cref="ConfigurationException">Malformed JSON, a wrong type or a missing value.</exception>
        public static DownstreamApiClient FromJson(string configJson)
        {
            if (configJson == null)
            {
                throw new ArgumentNullException("configJson");
            }
            ClientHandle handle;
            uint status = NativeMethods.dsapi_client_new(Utf8.ToNative(configJson), out handle);
            return Adopt(status, handle);
        }

        /// <summary>Creates a client from the appsettings.json file at <paramref name="path"/>.</summary>
        /// <exception cref="DownstreamApiIOException">The file cannot be read.</exception>
        public static DownstreamApiClient FromFile(string path)
        {
            if (path == null)
            {
                throw new ArgumentNullException("path");
            }
            ClientHandle handle;
            uint status = NativeMethods.dsapi_client_new_from_file(Utf8.ToNative(path), out handle);
            return Adopt(status, handle);
        }

        private static DownstreamApiClient Adopt(uint status, ClientHandle handle)
        {
            try
            {
                Ensure.Success(status);
                return new DownstreamApiClient(handle);
            }
            catch
            {
                handle.Dispose();
                throw;
            }
        }

        /// <summary>
        /// Calls the API <paramref name="apiName"/> (a key of DownstreamApis, ignoring case) with
        /// <paramref name="body"/> (may be null). <paramref name="overridesJson"/> (may be null) is a
        /// JSON object replacing keys of the API's configuration for this call: HttpMethod,
        /// RelativePath, ExtraQueryParameters, ExtraHeaderParameters, ContentType, AcceptHeader, ...
        /// </summary>
        /// <exception cref="DownstreamApiException">No response could be obtained (a subclass per status).</exception>
        public DownstreamApiResponse Call(string apiName, byte[] body = null, string overridesJson = null)
        {
            byte[] name = Utf8.ToNative(Required(apiName, "apiName"));
            byte[] overrides = Utf8.ToNative(overridesJson);
            int length = body == null ? 0 : body.Length;
            ResponseHandle response;
            uint status = NativeMethods.dsapi_client_call(
                Handle(), name, overrides, length == 0 ? null : body, new UIntPtr((uint)length), out response);
            using (response)
            {
                Ensure.Success(status);
                return DownstreamApiResponse.CopyFrom(response);
            }
        }

        /// <summary>The Authorization header value a call to <paramref name="apiName"/> would carry,
        /// e.g. "Bearer eyJ..." (a secret: do not log it). An MTLS API has none: <see cref="UnsupportedException"/>.</summary>
        public string GetAuthorizationHeader(string apiName, string overridesJson = null)
        {
            byte[] name = Utf8.ToNative(Required(apiName, "apiName"));
            IntPtr header;
            uint status = NativeMethods.dsapi_client_authorization_header(
                Handle(), name, Utf8.ToNative(overridesJson), out header);
            Ensure.Success(status);
            return TakeString(header);
        }

        /// <summary>An app token for <paramref name="scopes"/> (space-separated, e.g.
        /// "api://orders/.default"). <paramref name="optionsJson"/> (may be null) is an
        /// AcquireTokenOptions object: Tenant, ForceRefresh, Claims, CorrelationId.</summary>
        public AccessToken AcquireToken(string scopes, string optionsJson = null)
        {
            byte[] nativeScopes = Utf8.ToNative(Required(scopes, "scopes"));
            IntPtr token;
            long expiresOn;
            uint status = NativeMethods.dsapi_client_acquire_token(
                Handle(), nativeScopes, Utf8.ToNative(optionsJson), out token, out expiresOn);
            Ensure.Success(status);
            string value = TakeString(token);
            return new AccessToken(value, DateTimeOffset.FromUnixTimeSeconds(expiresOn));
        }

        /// <summary>Every AzureAd.ClientCredentials entry as a JSON array, for a health endpoint:
        /// index, sourceType, location, skipped, loaded, kind, selectedFor and, for a certificate,
        /// thumbprint, thumbprintSha256, subject, issuer, notBefore, notAfter, daysLeft; error for an
        /// entry that failed to load. Entries not loaded yet are loaded now. Holds no secret.</summary>
        public string DescribeCredentials()
        {
            IntPtr json;
            Ensure.Success(NativeMethods.dsapi_client_describe_credentials(Handle(), out json));
            return TakeString(json);
        }

        /// <summary>Frees the native client (after calls still running on other threads return).</summary>
        public void Dispose()
        {
            if (Interlocked.Exchange(ref disposed, 1) == 0)
            {
                handle.Dispose();
            }
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
                var handlers = CredentialEvent;
                if (handlers == null || nativeEvent == IntPtr.Zero)
                {
                    return;
                }
                var native = (NativeCredentialEvent)Marshal.PtrToStructure(nativeEvent, typeof(NativeCredentialEvent));
                var args = new CredentialEventArgs(native);
                foreach (EventHandler<CredentialEventArgs> handler in handlers.GetInvocationList())
                {
                    try
                    {
                        handler(this, args);
                    }
                    catch (Exception error)
                    {
                        Logging.ReportCallbackFailure("credential event handler", error);
                    }
                }
            }
            catch (Exception error)
            {
                // Never let an exception unwind into native code.
                Logging.ReportCallbackFailure("credential observer", error);
            }
        }
    }
}
