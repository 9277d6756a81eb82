using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.RegularExpressions;
using System.Xml;

namespace DownstreamApi.Tests
{
    internal sealed partial class Tests
    {
        private static string Snake(string camel)
        {
            return Regex.Replace(camel, "(?<=[a-z])([A-Z])", "_$1").ToUpperInvariant();
        }

        private void VersionIsSemver()
        {
            string version = DownstreamApiLibrary.Version;
            Assert.True(Regex.IsMatch(version, @"^\d+\.\d+\.\d+([-+].*)?$"), "semver, got " + version);
        }

        private void StatusNamesMirrorTheHeader()
        {
            foreach (Status status in Enum.GetValues(typeof(Status)))
            {
                Assert.Equal("DSAPI_" + Snake(status.ToString()), DownstreamApiLibrary.StatusName(status), "name of " + status);
            }
            Assert.Equal("DSAPI_UNKNOWN_STATUS", DownstreamApiLibrary.StatusName((Status)9999), "unknown status");
        }

        private void EnumsAreTheHeadersConstants()
        {
            string header = File.ReadAllText(Path.Combine(repo, "include", "downstream_api.h"));
            var defines = new SortedDictionary<string, uint>(StringComparer.Ordinal);
            foreach (Match match in Regex.Matches(header, @"^#define (DSAPI_\w+) (\d+)$", RegexOptions.Multiline))
            {
                defines.Add(match.Groups[1].Value, uint.Parse(match.Groups[2].Value));
            }
            var mirrored = new SortedDictionary<string, uint>(StringComparer.Ordinal);
            foreach (Status status in Enum.GetValues(typeof(Status)))
            {
                mirrored.Add("DSAPI_" + Snake(status.ToString()), (uint)status);
            }
            foreach (DownstreamApiLogLevel level in Enum.GetValues(typeof(DownstreamApiLogLevel)))
            {
                mirrored.Add("DSAPI_LOG_" + Snake(level.ToString()), (uint)level);
            }
            foreach (CertificateObserverAction action in Enum.GetValues(typeof(CertificateObserverAction)))
            {
                mirrored.Add("DSAPI_EVENT_" + Snake(action.ToString()), (uint)action);
            }
            Assert.True(defines.Count > 20, "the header's #defines were found");
            Assert.Equal(
                string.Join(", ", defines.Select(d => d.Key + "=" + d.Value)),
                string.Join(", ", mirrored.Select(d => d.Key + "=" + d.Value)),
                "constants");
        }

        private void EveryStatusMapsToItsException()
        {
            var seen = new HashSet<Type>();
            foreach (Status status in Enum.GetValues(typeof(Status)))
            {
                if (status == Status.Ok)
                {
                    continue;
                }
                var error = Ensure.ExceptionFor(status, "why");
                Assert.True(error.GetType() != typeof(DownstreamApiException), "a subclass for " + status);
                Assert.True(seen.Add(error.GetType()), "a distinct class for " + status);
                Assert.Equal(status, error.Status, "status");
                Assert.Equal("why", error.Message, "message");
                Assert.Equal(DownstreamApiLibrary.StatusName(status), error.StatusName, "status name");
            }
            Assert.True(!typeof(TimeoutException).IsAssignableFrom(typeof(DownstreamApiTimeoutException)), "no System.TimeoutException");
            Assert.Equal(typeof(DownstreamApiException), Ensure.ExceptionFor((Status)1234, "x").GetType(), "unknown status type");
        }

        /// <summary>A host imports this namespace beside the framework's: a public type named like a
        /// framework type (System.Configuration.ConfigurationException, Microsoft.Extensions'
        /// LogLevel, ...) would make its name ambiguous there.</summary>
        private void NoNameClashesWithTheFramework()
        {
            var framework = new[]
            {
                typeof(object), typeof(Uri), typeof(Enumerable), typeof(System.Net.Http.HttpClient),
                typeof(System.Configuration.ConfigurationException), typeof(XmlDocument),
                typeof(System.Runtime.Serialization.Json.DataContractJsonSerializer),
            };
            var frameworkNames = new HashSet<string>(StringComparer.Ordinal);
            foreach (Type anchor in framework)
            {
                foreach (Type type in anchor.Assembly.GetExportedTypes())
                {
                    frameworkNames.Add(type.Name);
                }
            }
            // Names of the framework beyond Mono's assemblies that hosts commonly import.
            foreach (string name in new[] { "LogLevel", "ILogger", "ProtocolException", "TlsException", "AuthenticationException" })
            {
                frameworkNames.Add(name);
            }
            var exported = typeof(DownstreamApiClient).Assembly.GetExportedTypes();
            Assert.True(exported.Length > 20, "the wrapper's public types were found");
            var clashes = exported.Where(t => frameworkNames.Contains(t.Name)).Select(t => t.FullName).ToList();
            Assert.Equal("", string.Join(", ", clashes), "public types named like framework types");
        }

        /// <summary>No .NET SDK here: read the csproj as MSBuild would for what the package holds.</summary>
        private void CsprojPacksTheNativeLibrary()
        {
            string projectDirectory = Path.Combine(repo, "bindings", "csharp", "DownstreamApi");
            var project = new XmlDocument();
            project.Load(Path.Combine(projectDirectory, "DownstreamApi.csproj"));
            Func<string, string> property = name =>
            {
                var node = project.SelectSingleNode("/Project/PropertyGroup/" + name);
                return node == null ? null : node.InnerText;
            };
            Assert.Equal("Microsoft.NET.Sdk", project.DocumentElement.GetAttribute("Sdk"), "SDK-style project");
            Assert.Equal("netstandard2.0;net8.0", property("TargetFrameworks"), "target frameworks");
            Assert.Equal("true", property("GenerateDocumentationFile"), "XML docs");
            Assert.True(project.SelectNodes("//Compile").Count == 0, "every .cs file is compiled, as mcs compiles them");
            string nativeTarget = property("NativeTarget").Replace("$(MSBuildThisFileDirectory)", projectDirectory + "/");
            var packed = new Dictionary<string, string>();
            foreach (XmlElement item in project.SelectNodes("//None[@PackagePath]"))
            {
                string include = item.GetAttribute("Include").Replace("$(NativeTarget)", nativeTarget);
                packed[item.GetAttribute("PackagePath")] = include;
                if (include.Contains("/target/"))
                {
                    // Packed only when built (the Linux build of the default target only when the
                    // glibc 2.17 build, preferred, is absent).
                    string condition = item.GetAttribute("Condition");
                    string built = "Exists('" + item.GetAttribute("Include") + "')";
                    Assert.True(condition == built || condition.EndsWith(" And " + built, StringComparison.Ordinal),
                        "a platform not built is left out: " + condition);
                }
            }
            var expected = new Dictionary<string, string>
            {
                { "runtimes/linux-x64/native/", "target/release/libdownstream_api.so" },
                { "runtimes/win-x64/native/", "target/x86_64-pc-windows-msvc/release/downstream_api.dll" },
                { "runtimes/osx-arm64/native/", "target/aarch64-apple-darwin/release/libdownstream_api.dylib" },
            };
            foreach (var pair in expected)
            {
                Assert.True(packed.ContainsKey(pair.Key), "packs " + pair.Key);
                Assert.Equal(
                    Path.GetFullPath(Path.Combine(repo, pair.Value)),
                    Path.GetFullPath(packed[pair.Key]),
                    "source of " + pair.Key);
            }
            Assert.True(packed.ContainsKey("lib/netstandard2.0"), "the Mono dllmap is packed");
        }
    }
}
