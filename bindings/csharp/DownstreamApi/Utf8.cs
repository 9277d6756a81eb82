using System;
using System.Runtime.InteropServices;
using System.Text;

namespace DownstreamApi
{
    /// <summary>UTF-8 marshalling done by hand (Marshal.PtrToStringUTF8 is not in netstandard2.0).</summary>
    internal static class Utf8
    {
        private static readonly UTF8Encoding Strict = new UTF8Encoding(false, true);
        private static readonly UTF8Encoding Lenient = new UTF8Encoding(false, false);

        /// <summary>A NUL-terminated UTF-8 copy of <paramref name="value"/>, or null for null.</summary>
        internal static byte[] ToNative(string value)
        {
            if (value == null)
            {
                return null;
            }
            if (value.IndexOf('\0') >= 0)
            {
                throw new ArgumentException("the string contains a NUL character");
            }
            var bytes = new byte[Strict.GetByteCount(value) + 1];
            Strict.GetBytes(value, 0, value.Length, bytes, 0);
            return bytes;
        }

        /// <summary>Decodes a NUL-terminated UTF-8 string; null for a NULL pointer.</summary>
        internal static string FromNative(IntPtr pointer)
        {
            if (pointer == IntPtr.Zero)
            {
                return null;
            }
            int length = 0;
            while (Marshal.ReadByte(pointer, length) != 0)
            {
                length++;
            }
            var bytes = new byte[length];
            Marshal.Copy(pointer, bytes, 0, length);
            return Lenient.GetString(bytes);
        }
    }
}
