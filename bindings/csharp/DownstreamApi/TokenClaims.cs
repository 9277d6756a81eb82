using System;
using System.Collections.Generic;
using System.Globalization;
using System.Security.Claims;
using System.Text;

namespace DownstreamApi
{
    /// <summary>
    /// The claims of a validated token's payload (the JSON object the library returns) as .NET
    /// claims, the way IdentityModel's JsonWebToken makes them: one claim per member, one per
    /// element of an array, nested objects as their JSON text (value type "JSON"), issued by the
    /// token's <c>iss</c>; and, as a web API checks them one by one, <c>scp</c> split at spaces.
    /// A small reader of its own: netstandard2.0 has no JSON document reader.
    /// </summary>
    internal static class TokenClaims
    {
        private const string JsonValueType = "JSON";

        internal static List<Claim> Read(string json)
        {
            var reader = new Reader(json);
            var values = new List<KeyValuePair<string, Value>>();
            reader.Expect('{');
            if (!reader.TryConsume('}'))
            {
                do
                {
                    string name = reader.ReadString();
                    reader.Expect(':');
                    if (reader.TryConsume('['))
                    {
                        if (!reader.TryConsume(']'))
                        {
                            do
                            {
                                values.Add(new KeyValuePair<string, Value>(name, reader.ReadValue()));
                            }
                            while (reader.TryConsume(','));
                            reader.Expect(']');
                        }
                    }
                    else
                    {
                        values.Add(new KeyValuePair<string, Value>(name, reader.ReadValue()));
                    }
                }
                while (reader.TryConsume(','));
                reader.Expect('}');
            }
            reader.End();
            return ToClaims(values);
        }

        private static List<Claim> ToClaims(List<KeyValuePair<string, Value>> values)
        {
            string issuer = ClaimsIdentity.DefaultIssuer;
            foreach (var pair in values)
            {
                if (pair.Key == "iss" && pair.Value.Type == ClaimValueTypes.String)
                {
                    issuer = pair.Value.Text;
                }
            }
            var claims = new List<Claim>();
            foreach (var pair in values)
            {
                Value value = pair.Value;
                if (value.Text == null)
                {
                    continue;
                }
                if (pair.Key == "scp" && value.Type == ClaimValueTypes.String)
                {
                    foreach (string scope in value.Text.Split(new[] { ' ' }, StringSplitOptions.RemoveEmptyEntries))
                    {
                        claims.Add(new Claim("scp", scope, ClaimValueTypes.String, issuer));
                    }
                    continue;
                }
                claims.Add(new Claim(pair.Key, value.Text, value.Type, issuer));
            }
            return claims;
        }

        /// <summary>A claim value: its text (null for JSON null) and its ClaimValueTypes type.</summary>
        private struct Value
        {
            internal string Text;
            internal string Type;
        }

        /// <summary>Reads the JSON text the library wrote (serde_json: compact, valid); anything
        /// unexpected is an error rather than a guess.</summary>
        private sealed class Reader
        {
            private readonly string json;
            private int at;

            internal Reader(string json)
            {
                this.json = json;
            }

            internal Value ReadValue()
            {
                SkipBlanks();
                char c = Peek();
                if (c == '"')
                {
                    return new Value { Text = ReadString(), Type = ClaimValueTypes.String };
                }
                if (c == '{' || c == '[')
                {
                    int start = at;
                    SkipComposite();
                    return new Value { Text = json.Substring(start, at - start), Type = JsonValueType };
                }
                string literal = Literal();
                switch (literal)
                {
                    case "true": return new Value { Text = "true", Type = ClaimValueTypes.Boolean };
                    case "false": return new Value { Text = "false", Type = ClaimValueTypes.Boolean };
                    case "null": return new Value { Text = null, Type = null };
                }
                long whole;
                if (long.TryParse(literal, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out whole))
                {
                    return new Value { Text = literal, Type = ClaimValueTypes.Integer64 };
                }
                double real;
                if (double.TryParse(literal, NumberStyles.Float, CultureInfo.InvariantCulture, out real))
                {
                    return new Value { Text = literal, Type = ClaimValueTypes.Double };
                }
                throw Unexpected("a value");
            }

            internal string ReadString()
            {
                Expect('"');
                var text = new StringBuilder();
                while (true)
                {
                    char c = Next();
                    if (c == '"')
                    {
                        return text.ToString();
                    }
                    if (c != '\\')
                    {
                        text.Append(c);
                        continue;
                    }
                    char escaped = Next();
                    switch (escaped)
                    {
                        case 'b': text.Append('\b'); break;
                        case 'f': text.Append('\f'); break;
                        case 'n': text.Append('\n'); break;
                        case 'r': text.Append('\r'); break;
                        case 't': text.Append('\t'); break;
                        case 'u':
                            if (at + 4 > json.Length)
                            {
                                throw Unexpected("four hex digits");
                            }
                            text.Append((char)int.Parse(json.Substring(at, 4), NumberStyles.HexNumber, CultureInfo.InvariantCulture));
                            at += 4;
                            break;
                        default: text.Append(escaped); break;
                    }
                }
            }

            internal void Expect(char wanted)
            {
                if (!TryConsume(wanted))
                {
                    throw Unexpected("'" + wanted + "'");
                }
            }

            internal bool TryConsume(char wanted)
            {
                SkipBlanks();
                if (at < json.Length && json[at] == wanted)
                {
                    at++;
                    return true;
                }
                return false;
            }

            internal void End()
            {
                SkipBlanks();
                if (at != json.Length)
                {
                    throw Unexpected("the end");
                }
            }

            /// <summary>Skips an object or array, strings inside included.</summary>
            private void SkipComposite()
            {
                int depth = 0;
                do
                {
                    char c = Peek();
                    if (c == '"')
                    {
                        ReadString();
                        continue;
                    }
                    at++;
                    if (c == '{' || c == '[')
                    {
                        depth++;
                    }
                    else if (c == '}' || c == ']')
                    {
                        depth--;
                    }
                }
                while (depth > 0);
            }

            private string Literal()
            {
                int start = at;
                while (at < json.Length && "{}[],: \t\r\n\"".IndexOf(json[at]) < 0)
                {
                    at++;
                }
                if (at == start)
                {
                    throw Unexpected("a value");
                }
                return json.Substring(start, at - start);
            }

            private void SkipBlanks()
            {
                while (at < json.Length && char.IsWhiteSpace(json[at]))
                {
                    at++;
                }
            }

            private char Peek()
            {
                if (at >= json.Length)
                {
                    throw Unexpected("more");
                }
                return json[at];
            }

            private char Next()
            {
                char c = Peek();
                at++;
                return c;
            }

            private FormatException Unexpected(string wanted)
            {
                return new FormatException("the claims JSON: expected " + wanted + " at offset " + at);
            }
        }
    }
}
