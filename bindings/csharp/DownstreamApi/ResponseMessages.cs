using System;
using System.Net;
using System.Net.Http;
using System.Runtime.InteropServices;

namespace DownstreamApi
{
    /// <summary>Copies a native response into an <see cref="HttpResponseMessage"/> (the native one
    /// is freed right after).</summary>
    internal static class ResponseMessages
    {
        internal static HttpResponseMessage CopyFrom(ResponseHandle response)
        {
            var message = new HttpResponseMessage((HttpStatusCode)NativeMethods.dsapi_response_status(response));
            message.Content = new ByteArrayContent(Body(response));
            ulong count = NativeMethods.dsapi_response_header_count(response).ToUInt64();
            for (ulong index = 0; index < count; index++)
            {
                IntPtr name, value;
                Ensure.Success(NativeMethods.dsapi_response_header_at(response, new UIntPtr(index), out name, out value));
                string headerName = Utf8.FromNative(name);
                string headerValue = Utf8.FromNative(value);
                // HttpResponseMessage.Headers refuses content headers (Content-Type, Content-Length,
                // Expires, ...): those belong on Content, as HttpClient puts them.
                if (!message.Headers.TryAddWithoutValidation(headerName, headerValue))
                {
                    message.Content.Headers.TryAddWithoutValidation(headerName, headerValue);
                }
            }
            IntPtr method, url;
            Ensure.Success(NativeMethods.dsapi_response_request(response, out method, out url));
            message.RequestMessage = new HttpRequestMessage(new HttpMethod(Utf8.FromNative(method)), RequestUri(Utf8.FromNative(url)));
            return message;
        }

        private static byte[] Body(ResponseHandle response)
        {
            UIntPtr length;
            IntPtr pointer = NativeMethods.dsapi_response_body(response, out length);
            var body = new byte[checked((int)length.ToUInt64())];
            if (body.Length > 0)
            {
                Marshal.Copy(pointer, body, 0, body.Length);
            }
            return body;
        }

        // The URL is redacted ("?…" for the query); a form Uri cannot hold is left out.
        private static Uri RequestUri(string url)
        {
            Uri uri;
            return Uri.TryCreate(url, UriKind.Absolute, out uri) ? uri : null;
        }
    }
}
