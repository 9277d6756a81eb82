"""Writes the C# block after `<!-- csharp example -->` in the README to a file, so that the
tests compile and run the example exactly as the README shows it."""
import sys

readme, out = sys.argv[1], sys.argv[2]
text = open(readme, encoding="utf-8").read()
start = text.index("<!-- csharp example -->")
block = text[start:].split("```csharp\n", 1)[1].split("```", 1)[0]
with open(out, "w", encoding="utf-8") as f:
    f.write("// Extracted from README.md by readme_example.py; edit the README, not this file.\n")
    f.write(block)
