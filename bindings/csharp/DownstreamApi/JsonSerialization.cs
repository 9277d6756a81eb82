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
    /// classes with public properties (member names match exactly, case included: use
    /// [DataMember(Name = "id")] for camelCase JSON); dictionaries are JSON objects, dates ISO 8601.
    /// A null input sends no body; a string output is the body's text.
    /// </summary>
    internal static class JsonSerialization
    {
        private static readonly DataContractJsonSerializerSettings Settings = new DataContractJsonSerializerSettings
        {
            UseSimpleDictionaryFormat = true,
            DateTimeFormat = new System.Runtime.Serialization.DateTimeFormat("o"),
        };

        internal static HttpContent Serialize(object input)
        {
            if (input == null)
            {
                return null;
            }
            var content = input as HttpContent;
            if (content != null)
            {
                return content;
            }
            using (var stream = new MemoryStream())
            {
                // The runtime type: an object-typed or anonymous input serializes as what it is.
                new DataContractJsonSerializer(input.GetType(), Settings).WriteObject(stream, input);
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
            if (type == typeof(string))
            {
                return System.Text.Encoding.UTF8.GetString(body);
            }
            using (var stream = new MemoryStream(body))
            {
                return new DataContractJsonSerializer(type, Settings).ReadObject(stream);
            }
        }
    }
}
