using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Text;

namespace DownstreamApi
{
    /// <summary>A JSON object written by hand: the overrides and token options the wrapper sends
    /// are a few flat members, and netstandard2.0 has no JSON writer of its own.</summary>
    internal sealed class JsonObject
    {
        private readonly List<string> members = new List<string>();

        internal bool IsEmpty
        {
            get { return members.Count == 0; }
        }

        internal void String(string name, string value)
        {
            Add(name, value == null ? "null" : Quote(value));
        }

        /// <summary>Sets <paramref name="name"/> when the value changed. A value changed to null
        /// cannot be expressed (the library reads null as "not given") and is refused.</summary>
        internal void StringIfChanged(string name, string configured, string edited)
        {
            if (string.Equals(configured, edited, StringComparison.Ordinal))
            {
                return;
            }
            if (edited == null)
            {
                throw new ArgumentException(name + " cannot be set to null: give a value");
            }
            String(name, edited);
        }

        internal void Bool(string name, bool value)
        {
            Add(name, value ? "true" : "false");
        }

        internal void Number(string name, double value)
        {
            Add(name, value.ToString("R", CultureInfo.InvariantCulture));
        }

        internal void Strings(string name, IEnumerable<string> values)
        {
            Add(name, "[" + string.Join(",", values.Select(v => Quote(v ?? ""))) + "]");
        }

        /// <summary>Sets <paramref name="name"/> to an object, or to JSON null when it is null.</summary>
        internal void Object(string name, JsonObject value)
        {
            Add(name, value == null ? "null" : value.ToString());
        }

        /// <summary>The names of <paramref name="edited"/> whose value is new, and null for every
        /// configured name it no longer has (a removal). A null value in <paramref name="edited"/>
        /// is a configured value left as it is.</summary>
        internal void Changes(string name, IDictionary<string, string> configured, IDictionary<string, string> edited, StringComparer comparer)
        {
            configured = configured ?? new Dictionary<string, string>();
            edited = edited ?? new Dictionary<string, string>();
            var changes = new JsonObject();
            foreach (var pair in edited)
            {
                string before;
                bool known = TryFind(configured, pair.Key, comparer, out before);
                if (pair.Value != null && !(known && string.Equals(before, pair.Value, StringComparison.Ordinal)))
                {
                    changes.String(pair.Key, pair.Value);
                }
            }
            foreach (var key in configured.Keys)
            {
                string ignored;
                if (!TryFind(edited, key, comparer, out ignored))
                {
                    changes.String(key, null);
                }
            }
            if (!changes.IsEmpty)
            {
                Object(name, changes);
            }
        }

        public override string ToString()
        {
            return "{" + string.Join(",", members) + "}";
        }

        private void Add(string name, string json)
        {
            members.Add(Quote(name) + ":" + json);
        }

        // The user's dictionary may use another comparer than the library's matching rule.
        private static bool TryFind(IDictionary<string, string> dictionary, string key, StringComparer comparer, out string value)
        {
            foreach (var pair in dictionary)
            {
                if (comparer.Equals(pair.Key, key))
                {
                    value = pair.Value;
                    return true;
                }
            }
            value = null;
            return false;
        }

        internal static string Quote(string text)
        {
            var quoted = new StringBuilder(text.Length + 2);
            quoted.Append('"');
            foreach (char c in text)
            {
                switch (c)
                {
                    case '"': quoted.Append("\\\""); break;
                    case '\\': quoted.Append("\\\\"); break;
                    case '\n': quoted.Append("\\n"); break;
                    case '\r': quoted.Append("\\r"); break;
                    case '\t': quoted.Append("\\t"); break;
                    default:
                        if (c < 0x20)
                        {
                            quoted.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                        }
                        else
                        {
                            quoted.Append(c);
                        }
                        break;
                }
            }
            return quoted.Append('"').ToString();
        }
    }
}
