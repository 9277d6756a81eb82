"""Checks the NuGet package that `dotnet pack -c Release` would make from
bindings/csharp/DownstreamApi/DownstreamApi.csproj, without a .NET SDK: reads the project file,
evaluates its pack items' `Exists(...)` conditions as MSBuild would, and prints the package's
expected layout. Fails when:

- the metadata a gallery needs is missing (id, version equal to Cargo.toml's, authors,
  description, license expression, tags, readme) or the readme file is not packed at the root;
- XML documentation is not generated (the package's IntelliSense file);
- the Linux native library is not packed under runtimes/linux-x64/native/, or is not the glibc
  2.17 build when that build exists (scripts/build-portable.sh);
- the project references a package (the wrapper has no dependencies beyond the framework).

What only a .NET SDK can confirm: that `dotnet pack` accepts the project (NU5xxx warnings), the
generated .nuspec and its per-framework dependency groups, the compiled lib/<tfm>/ assemblies
and XML files, and that .NET loads runtimes/linux-x64/native/ at run time.

Usage: python3 tests/portable/nuget_layout.py REPO
"""

import os
import re
import sys
import xml.etree.ElementTree as ET


def fail(message: str) -> None:
    sys.exit(f"nuget_layout: {message}")


def main() -> None:
    repo = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else ".")
    project_dir = os.path.join(repo, "bindings", "csharp", "DownstreamApi")
    project = ET.parse(os.path.join(project_dir, "DownstreamApi.csproj")).getroot()
    if project.get("Sdk") != "Microsoft.NET.Sdk":
        fail("not an SDK-style project")

    properties = {}
    for group in project.iter("PropertyGroup"):
        for prop in group:
            properties[prop.tag] = (prop.text or "").strip()
    variables = {"MSBuildThisFileDirectory": project_dir + os.sep}

    def expand(text: str) -> str:
        for _ in range(3):  # properties refer to properties
            text = re.sub(
                r"\$\((\w+)\)",
                lambda m: variables.get(m.group(1), properties.get(m.group(1), "")),
                text,
            )
        return text

    def condition_holds(condition: str) -> bool:
        if not condition:
            return True
        clauses = re.split(r"\s+[Aa]nd\s+", expand(condition).strip())
        for clause in clauses:
            match = re.fullmatch(r"(!?)Exists\('([^']*)'\)", clause.strip())
            if not match:
                fail(f"cannot evaluate the condition {condition!r}")
            exists = os.path.exists(os.path.normpath(match.group(2)))
            if exists == (match.group(1) == "!"):
                return False
        return True

    cargo = open(os.path.join(repo, "Cargo.toml"), encoding="utf-8").read()
    version = re.search(r'^version = "([^"]+)"', cargo, re.M).group(1)
    for name in ("PackageId", "Version", "Authors", "Description", "PackageLicenseExpression",
                 "PackageTags", "PackageReadmeFile"):
        if not properties.get(name):
            fail(f"the project sets no {name}")
    if properties["Version"] != version:
        fail(f"Version {properties['Version']} differs from Cargo.toml's {version}")
    if properties.get("GenerateDocumentationFile", "").lower() != "true":
        fail("GenerateDocumentationFile is not true: the package would carry no XML docs")
    frameworks = properties.get("TargetFrameworks", properties.get("TargetFramework", "")).split(";")

    references = [item.get("Include") for item in project.iter("PackageReference")]
    if references:
        fail(f"the project references packages {references}: list them here once intended")

    layout = {}
    for item in project.iter("None"):
        if (item.get("Pack") or "").lower() != "true":
            continue
        if not condition_holds(item.get("Condition", "")):
            continue
        source = os.path.normpath(os.path.join(project_dir, expand(item.get("Include"))))
        if not os.path.isfile(source):
            fail(f"packed item {item.get('Include')} is not a file ({source})")
        package_path = expand(item.get("PackagePath", "")).strip("/")
        target = "/".join(part for part in (package_path, os.path.basename(source)) if part)
        if target in layout:
            fail(f"two items are packed as {target}")
        layout[target] = source
    for framework in frameworks:
        layout[f"lib/{framework}/DownstreamApi.dll"] = "(compiled by dotnet pack)"
        layout[f"lib/{framework}/DownstreamApi.xml"] = "(GenerateDocumentationFile)"

    readme = properties["PackageReadmeFile"]
    if readme not in layout:
        fail(f"PackageReadmeFile {readme} is not packed at the package's root")
    linux = "runtimes/linux-x64/native/libdownstream_api.so"
    if linux not in layout:
        fail(f"no {linux}: build the native library first (scripts/build-portable.sh)")
    portable = os.path.join(repo, "target", "x86_64-unknown-linux-gnu", "release", "libdownstream_api.so")
    if os.path.exists(portable) and os.path.normpath(layout[linux]) != os.path.normpath(portable):
        fail(f"{linux} comes from {layout[linux]}, not the glibc 2.17 build {portable}")

    print(f"{properties['PackageId']}.{version}.nupkg would hold ({', '.join(frameworks)}):")
    for target in sorted(layout):
        print(f"  {target:55} <- {os.path.relpath(layout[target], repo) if os.path.isabs(layout[target]) else layout[target]}")


if __name__ == "__main__":
    main()
