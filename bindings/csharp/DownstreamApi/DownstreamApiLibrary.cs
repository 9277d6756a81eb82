using System.Runtime.CompilerServices;

[assembly: InternalsVisibleTo("DownstreamApi.Tests")]

namespace DownstreamApi
{
    /// <summary>Facts about the loaded native library.</summary>
    public static class DownstreamApiLibrary
    {
        /// <summary>The native library's version, e.g. "0.1.0".</summary>
        public static string Version
        {
            get { return Utf8.FromNative(NativeMethods.dsapi_version()); }
        }

        /// <summary>The name of a status, e.g. "DSAPI_TIMEOUT" ("DSAPI_UNKNOWN_STATUS" for an unknown one).</summary>
        public static string StatusName(Status status)
        {
            return Ensure.StatusName(status);
        }
    }
}
