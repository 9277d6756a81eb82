using System;
using System.Collections.Generic;
using System.Collections.ObjectModel;
using System.Text;

namespace DownstreamApi
{
    /// <summary>An HTTP response, copied out of the native response (already freed). Any HTTP
    /// status, 4xx and 5xx included, is a response, not an exception.</summary>
    public sealed class DownstreamApiResponse
    {
        private readonly Dictionary<string, string> headers;

        internal DownstreamApiResponse(int statusCode, byte[] body, IList<KeyValuePair<string, string>> headerList)
        {
            StatusCode = statusCode;
            Body = body;
            HeaderList = new ReadOnlyCollection<KeyValuePair<string, string>>(headerList);
            headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            foreach (var header in headerList)
            {
                string existing;
                headers[header.Key] = headers.TryGetValue(header.Key, out existing)
                    ? existing + ", " + header.Value
                    : header.Value;
            }
            Headers = new ReadOnlyDictionary<string, string>(headers);
        }

        /// <summary>The HTTP status code.</summary>
        public int StatusCode { get; private set; }

        /// <summary>The response body.</summary>
        public byte[] Body { get; private set; }

        /// <summary>The body decoded as UTF-8.</summary>
        public string Text
        {
            get { return Encoding.UTF8.GetString(Body); }
        }

        /// <summary>Headers by name (lower case, looked up ignoring case); repeated headers are joined with ", ".</summary>
        public IReadOnlyDictionary<string, string> Headers { get; private set; }

        /// <summary>Every header in received order, names in lower case.</summary>
        public IReadOnlyList<KeyValuePair<string, string>> HeaderList { get; private set; }

        /// <summary>The first header called <paramref name="name"/> (ignoring case), or null.</summary>
        public string GetHeader(string name)
        {
            if (name == null)
            {
                throw new ArgumentNullException("name");
            }
            foreach (var header in HeaderList)
            {
                if (string.Equals(header.Key, name, StringComparison.OrdinalIgnoreCase))
                {
                    return header.Value;
                }
            }
            return null;
        }

        internal static DownstreamApiResponse CopyFrom(ResponseHandle response)
        {
            int status = NativeMethods.dsapi_response_status(response);
            UIntPtr length;
            IntPtr pointer = NativeMethods.dsapi_response_body(response, out length);
            var body = new byte[checked((int)length.ToUInt64())];
            if (body.Length > 0)
            {
                System.Runtime.InteropServices.Marshal.Copy(pointer, body, 0, body.Length);
            }
            ulong count = NativeMethods.dsapi_response_header_count(response).ToUInt64();
            var list = new List<KeyValuePair<string, string>>((int)count);
            for (ulong index = 0; index < count; index++)
            {
                IntPtr name, value;
                Ensure.Success(NativeMethods.dsapi_response_header_at(response, new UIntPtr(index), out name, out value));
                list.Add(new KeyValuePair<string, string>(
                    Utf8.FromNative(name).ToLowerInvariant(), Utf8.FromNative(value)));
            }
            return new DownstreamApiResponse(status, body, list);
        }
    }

    /// <summary>An app token from <see cref="DownstreamApiClient.AcquireToken"/>. The token is a
    /// secret: <see cref="ToString"/> leaves it out.</summary>
    public sealed class AccessToken
    {
        internal AccessToken(string token, DateTimeOffset expiresOn)
        {
            Token = token;
            ExpiresOn = expiresOn;
        }

        /// <summary>The access token (do not log it).</summary>
        public string Token { get; private set; }

        /// <summary>When the token expires (UTC).</summary>
        public DateTimeOffset ExpiresOn { get; private set; }

        public override string ToString()
        {
            return "AccessToken(expires " + ExpiresOn.ToString("o") + ")";
        }
    }

    /// <summary>A credential event (Id.Web's ICredentialsObserver). Raised on the thread making the call.</summary>
    public sealed class CredentialEventArgs : EventArgs
    {
        internal CredentialEventArgs(NativeCredentialEvent native)
        {
            Kind = (CredentialEventKind)native.Kind;
            Thumbprint = Utf8.FromNative(native.Thumbprint) ?? "";
            Subject = Utf8.FromNative(native.Subject) ?? "";
            Source = Utf8.FromNative(native.Source) ?? "";
            Protocol = Utf8.FromNative(native.Protocol) ?? "";
            ApiUrl = Utf8.FromNative(native.ApiUrl) ?? "";
            Error = Utf8.FromNative(native.Error);
        }

        public CredentialEventKind Kind { get; private set; }

        /// <summary>SHA-1 thumbprint of the certificate, upper-case hex.</summary>
        public string Thumbprint { get; private set; }

        public string Subject { get; private set; }

        /// <summary>Which ClientCredentials entry, e.g. "ClientCredentials[0] (Path)".</summary>
        public string Source { get; private set; }

        /// <summary>"MTLS", "Bearer", ...</summary>
        public string Protocol { get; private set; }

        public string ApiUrl { get; private set; }

        /// <summary>Why the certificate was dropped; null unless Kind is Deselected.</summary>
        public string Error { get; private set; }
    }
}
