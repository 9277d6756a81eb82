// Raw P/Invoke declarations of include/downstream_api.h. Nothing here throws for a failed status:
// the Ensure layer does that. Strings go in as NUL-terminated UTF-8 byte arrays (Utf8.ToNative)
// and come out as IntPtr decoded by Utf8.FromNative, because the runtime's default string
// marshalling is not UTF-8 on every runtime (Mono, .NET Framework).
//
// Finding the native library: the import name is "downstream_api".
// - .NET (Core/5+): downstream_api.dll / libdownstream_api.so / libdownstream_api.dylib next to
//   the application, or under runtimes/<rid>/native/ of the NuGet package (e.g.
//   runtimes/linux-x64/native/libdownstream_api.so).
// - Mono: the dllmap in DownstreamApi.dll.config (next to DownstreamApi.dll) maps the name to
//   libdownstream_api.so / .dylib, looked up through LD_LIBRARY_PATH (DYLD_LIBRARY_PATH on macOS)
//   and the assembly's directory.
using System;
using System.Runtime.InteropServices;

namespace DownstreamApi
{
    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    internal delegate void NativeLogCallback(IntPtr userData, uint level, IntPtr message);

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    internal delegate void NativeObserverCallback(IntPtr userData, IntPtr credentialEvent);

    /// <summary><c>struct dsapi_credential_event</c>; every string is borrowed for the callback only.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct NativeCredentialEvent
    {
        public uint Kind;
        public IntPtr Thumbprint;
        public IntPtr Subject;
        public IntPtr Source;
        public IntPtr Protocol;
        public IntPtr ApiUrl;
        public IntPtr Error;
        public long DaysLeft;
    }

    internal static class NativeMethods
    {
        internal const string Library = "downstream_api";

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        internal static extern IntPtr dsapi_status_str(uint status);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        internal static extern uint dsapi_last_error_message(byte[] buf, UIntPtr bufLen, out UIntPtr needed);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        internal static extern uint dsapi_last_error_claims(byte[] buf, UIntPtr bufLen, out UIntPtr needed);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        internal static extern IntPtr dsapi_version();

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        internal static extern uint dsapi_set_log_callback(NativeLogCallback callback, IntPtr userData, uint maxLevel);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        internal static extern uint dsapi_client_new(byte[] configJson, out ClientHandle client);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        internal static extern uint dsapi_client_new_from_file(byte[] path, out ClientHandle client);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        internal static extern void dsapi_client_free(IntPtr client);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        internal static extern uint dsapi_client_call(
            ClientHandle client,
            byte[] apiName,
            byte[] overridesJson,
            byte[] body,
            UIntPtr bodyLen,
            out ResponseHandle response);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        internal static extern uint dsapi_client_call_for_user(
            ClientHandle client,
            byte[] apiName,
            byte[] userToken,
            byte[] overridesJson,
            byte[] body,
            UIntPtr bodyLen,
            out ResponseHandle response);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        internal static extern uint dsapi_client_add_observer(
            ClientHandle client, NativeObserverCallback callback, IntPtr userData);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        internal static extern ushort dsapi_response_status(ResponseHandle response);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        internal static extern IntPtr dsapi_response_body(ResponseHandle response, out UIntPtr len);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        internal static extern uint dsapi_response_header(ResponseHandle response, byte[] name, out IntPtr value);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        internal static extern UIntPtr dsapi_response_header_count(ResponseHandle response);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        internal static extern uint dsapi_response_header_at(
            ResponseHandle response, UIntPtr index, out IntPtr name, out IntPtr value);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        internal static extern uint dsapi_response_request(ResponseHandle response, out IntPtr method, out IntPtr url);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        internal static extern void dsapi_response_free(IntPtr response);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        internal static extern uint dsapi_client_authorization_header(
            ClientHandle client, byte[] apiName, byte[] overridesJson, out IntPtr header);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        internal static extern uint dsapi_client_authorization_header_for_user(
            ClientHandle client, byte[] apiName, byte[] userToken, byte[] overridesJson, out IntPtr header);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        internal static extern uint dsapi_client_acquire_token(
            ClientHandle client, byte[] scopes, byte[] optionsJson, out IntPtr token, out long expiresOn);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        internal static extern uint dsapi_client_validate_token(ClientHandle client, byte[] token, out IntPtr claimsJson);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        internal static extern uint dsapi_client_describe_credentials(ClientHandle client, out IntPtr json);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        internal static extern uint dsapi_client_metrics(ClientHandle client, out IntPtr json);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        internal static extern uint dsapi_client_reload_credentials(ClientHandle client);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        internal static extern uint dsapi_client_set_credential(
            ClientHandle client, UIntPtr index, byte[] data, UIntPtr len, byte[] password);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        internal static extern uint dsapi_client_api_options(
            ClientHandle client, byte[] apiName, byte[] overridesJson, out IntPtr json);

        [DllImport(Library, CallingConvention = CallingConvention.Cdecl)]
        internal static extern void dsapi_string_free(IntPtr value);
    }
}
