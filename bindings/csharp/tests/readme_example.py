"""Writes the C# examples of the documentation to one file, so that the tests compile and run each
exactly as its page shows it: the block after `<!-- csharp example -->` in the package page
(bindings/csharp/README.md, class ReadmeExample) and after `<!-- csharp quick start -->` in the
repository's README.md (class QuickStart).

    python3 readme_example.py REPO OUT.cs
"""
import os
import sys

repo, out = sys.argv[1], sys.argv[2]
EXAMPLES = [
    ("bindings/csharp/README.md", "<!-- csharp example -->"),
    ("README.md", "<!-- csharp quick start -->"),
]
usings, bodies = [], []
for page, marker in EXAMPLES:
    text = open(os.path.join(repo, page), encoding="utf-8").read()
    start = text.index(marker)
    block = text[start:].split("```csharp\n", 1)[1].split("```", 1)[0]
    lines = block.splitlines(keepends=True)
    # C# wants every using directive before the first class: gather them at the top.
    usings += [line for line in lines if line.startswith("using ") and line not in usings]
    body = "".join(line for line in lines if not line.startswith("using "))
    bodies.append(f"// Extracted from {page} by readme_example.py; edit the page, not this file.\n{body}")
with open(out, "w", encoding="utf-8") as f:
    f.write("".join(usings) + "\n" + "\n".join(bodies))
