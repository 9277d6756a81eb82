using System;
using System.Net.Http;
using System.Threading;
using System.Threading.Tasks;

namespace DownstreamApi
{
    /// <summary>
    /// Microsoft.Identity.Abstractions' <c>IDownstreamApi</c> and <c>IAuthorizationHeaderProvider</c>,
    /// with the same names and parameters, so that code moves between Id.Web and this library by a
    /// change of namespace; the calls for a user take the user's incoming token where Id.Web takes a
    /// <c>ClaimsPrincipal</c> (<see cref="DownstreamApiClient"/> also has ClaimsPrincipal overloads). <see cref="DownstreamApiClient"/>
    /// implements it; depend on the interface to substitute a fake in your own tests.
    /// </summary>
    public interface IDownstreamApi
    {
        /// <summary>Calls the API <paramref name="serviceName"/> (a key of DownstreamApis) and
        /// returns its response, whatever its status.</summary>
        Task<HttpResponseMessage> CallApiForAppAsync(
            string serviceName,
            Action<DownstreamApiOptions> downstreamApiOptionsOverride = null,
            HttpContent content = null,
            CancellationToken cancellationToken = default(CancellationToken));

        /// <summary>The synchronous <see cref="CallApiForAppAsync"/>, on the caller's thread.</summary>
        HttpResponseMessage CallApiForApp(
            string serviceName,
            Action<DownstreamApiOptions> downstreamApiOptionsOverride = null,
            HttpContent content = null);

        /// <summary>GET, the JSON answer deserialized as <typeparamref name="TOutput"/>.</summary>
        Task<TOutput> GetForAppAsync<TOutput>(
            string serviceName,
            Action<DownstreamApiOptions> downstreamApiOptionsOverride = null,
            CancellationToken cancellationToken = default(CancellationToken)) where TOutput : class;

        /// <summary>POST of <paramref name="input"/> as JSON, the answer as <typeparamref name="TOutput"/>.</summary>
        Task<TOutput> PostForAppAsync<TInput, TOutput>(
            string serviceName,
            TInput input,
            Action<DownstreamApiOptions> downstreamApiOptionsOverride = null,
            CancellationToken cancellationToken = default(CancellationToken)) where TOutput : class;

        /// <summary>PUT of <paramref name="input"/> as JSON, the answer as <typeparamref name="TOutput"/>.</summary>
        Task<TOutput> PutForAppAsync<TInput, TOutput>(
            string serviceName,
            TInput input,
            Action<DownstreamApiOptions> downstreamApiOptionsOverride = null,
            CancellationToken cancellationToken = default(CancellationToken)) where TOutput : class;

        /// <summary>PATCH of <paramref name="input"/> as JSON, the answer as <typeparamref name="TOutput"/>.</summary>
        Task<TOutput> PatchForAppAsync<TInput, TOutput>(
            string serviceName,
            TInput input,
            Action<DownstreamApiOptions> downstreamApiOptionsOverride = null,
            CancellationToken cancellationToken = default(CancellationToken)) where TOutput : class;

        /// <summary>DELETE with <paramref name="input"/> as JSON (null: no body), the answer as
        /// <typeparamref name="TOutput"/>.</summary>
        Task<TOutput> DeleteForAppAsync<TInput, TOutput>(
            string serviceName,
            TInput input,
            Action<DownstreamApiOptions> downstreamApiOptionsOverride = null,
            CancellationToken cancellationToken = default(CancellationToken)) where TOutput : class;

        /// <summary>"Bearer &lt;token&gt;" for an app token of <paramref name="scopes"/>
        /// (space-separated).</summary>
        Task<string> CreateAuthorizationHeaderForAppAsync(
            string scopes,
            AuthorizationHeaderProviderOptions downstreamApiOptions = null,
            CancellationToken cancellationToken = default(CancellationToken));

        /// <summary>The Authorization header a call to the configured API
        /// <paramref name="serviceName"/> would carry.</summary>
        Task<string> CreateAuthorizationHeaderAsync(
            string serviceName,
            Action<DownstreamApiOptions> downstreamApiOptionsOverride = null,
            CancellationToken cancellationToken = default(CancellationToken));
    
        /// <summary>Calls the API on behalf of the user whose incoming access token is
        /// <paramref name="userToken"/> (on-behalf-of), or of an agent's user named in the options.</summary>
        Task<HttpResponseMessage> CallApiForUserAsync(
            string serviceName,
            Action<DownstreamApiOptions> downstreamApiOptionsOverride = null,
            string userToken = null,
            HttpContent content = null,
            CancellationToken cancellationToken = default(CancellationToken));

        /// <summary>The synchronous <see cref="CallApiForUserAsync"/>, on the caller's thread.</summary>
        HttpResponseMessage CallApiForUser(
            string serviceName,
            Action<DownstreamApiOptions> downstreamApiOptionsOverride = null,
            string userToken = null,
            HttpContent content = null);

        /// <summary>GET for the user, the JSON answer deserialized as <typeparamref name="TOutput"/>.</summary>
        Task<TOutput> GetForUserAsync<TOutput>(
            string serviceName,
            Action<DownstreamApiOptions> downstreamApiOptionsOverride = null,
            string userToken = null,
            CancellationToken cancellationToken = default(CancellationToken)) where TOutput : class;

        /// <summary>POST of <paramref name="input"/> as JSON for the user.</summary>
        Task<TOutput> PostForUserAsync<TInput, TOutput>(
            string serviceName,
            TInput input,
            Action<DownstreamApiOptions> downstreamApiOptionsOverride = null,
            string userToken = null,
            CancellationToken cancellationToken = default(CancellationToken)) where TOutput : class;

        /// <summary>PUT of <paramref name="input"/> as JSON for the user.</summary>
        Task<TOutput> PutForUserAsync<TInput, TOutput>(
            string serviceName,
            TInput input,
            Action<DownstreamApiOptions> downstreamApiOptionsOverride = null,
            string userToken = null,
            CancellationToken cancellationToken = default(CancellationToken)) where TOutput : class;

        /// <summary>PATCH of <paramref name="input"/> as JSON for the user.</summary>
        Task<TOutput> PatchForUserAsync<TInput, TOutput>(
            string serviceName,
            TInput input,
            Action<DownstreamApiOptions> downstreamApiOptionsOverride = null,
            string userToken = null,
            CancellationToken cancellationToken = default(CancellationToken)) where TOutput : class;

        /// <summary>DELETE with <paramref name="input"/> as JSON (null: no body) for the user.</summary>
        Task<TOutput> DeleteForUserAsync<TInput, TOutput>(
            string serviceName,
            TInput input,
            Action<DownstreamApiOptions> downstreamApiOptionsOverride = null,
            string userToken = null,
            CancellationToken cancellationToken = default(CancellationToken)) where TOutput : class;

        /// <summary>The Authorization header a call for the user to the configured API
        /// <paramref name="serviceName"/> would carry.</summary>
        Task<string> CreateAuthorizationHeaderForUserAsync(
            string serviceName,
            Action<DownstreamApiOptions> downstreamApiOptionsOverride = null,
            string userToken = null,
            CancellationToken cancellationToken = default(CancellationToken));
    }
}
