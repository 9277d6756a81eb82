using System;
using System.IO;
using System.Net.Http;
using System.Net.Http.Headers;
using System.Runtime.Serialization.Json;

namespace DownstreamApi
{
    /// <summary>
    /// The typed methods' default JSON (when <see cref="DownstreamApiOptions.Serializer"/> /
    /// <see cref="DownstreamApiOptions.Deserializer"/> are null): <c>DataContractJsonSerializer</c>,
    /// the serializer both netstandard2.0 and Mono carry. It reads [DataContract] types and plain
    /// classes with public properties; dictionaries are JSON objects.
    /// </summary>
    internal static class JsonSerialization
    {
        private static readonly DataContractJsonSerializerSettings Settings =
            new DataContractJsonSerializerSettings { UseSimpleDictionaryFormat = true };

        internal static HttpContent Serialize(object input, Type type)
        {
            var content = input as HttpContent;
            if (content != null)
            {
                return content;
            }
            using (var stream = new MemoryStream())
            {
                new DataContractJsonSerializer(type, Settings).WriteObject(stream, input);
                var json = new ByteArrayContent(stream.ToArray());
                json.Headers.ContentType = new MediaTypeHeaderValue("application/json") { CharSet = "utf-8" };
                return json;
            }
        }

        internal static object Deserialize(byte[] body, Type type)
        {
            if (body.Length == 0)
            {
                return null;
            }
            using (var stream = new MemoryStream(body))
            {
                return new DataContractJsonSerializer(type, Settings).ReadObject(stream);
            }
        }
    }
}
