//! The wrappers cannot drift from the header: this test reads every `dsapi_` function that
//! `include/downstream_api.h` declares, with its number of parameters, and the fields of
//! `dsapi_credential_event`, then fails when
//! - Python's `_native.py` does not declare a function with as many `argtypes`, or its
//!   `_fields_` for the event differ;
//! - C#'s `NativeMethods.cs` has no `DllImport` of it with as many parameters, or its
//!   `NativeCredentialEvent` has other fields;
//! - the C++ layer (`downstream_api.hpp`) never uses it (each direct call must pass as many
//!   arguments), or never reads one of the event's fields;
//! - a wrapper declares a `dsapi_` function the header does not have.
//!
//! The parsers are small and know only the shapes these files use; their own tests are below.

use std::collections::BTreeMap;
use std::path::Path;

/// Function name → number of parameters.
type Signatures = BTreeMap<String, usize>;

fn read(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("read {}: {e}", full.display()))
}

/// C-family source without its `//` and `/* */` comments (string literals are not special: the
/// files read here have no comment markers inside strings that matter).
fn without_comments(source: &str) -> String {
    let mut out = String::new();
    let mut rest = source;
    loop {
        let next = [rest.find("//"), rest.find("/*")];
        let Some(at) = next.iter().flatten().min().copied() else {
            out.push_str(rest);
            return out;
        };
        out.push_str(&rest[..at]);
        rest = if rest[at..].starts_with("//") {
            rest[at..].find('\n').map_or("", |end| &rest[at + end..])
        } else {
            rest[at + 2..]
                .find("*/")
                .map_or("", |end| &rest[at + 4 + end..])
        };
    }
}

/// The text between the bracket at `open` (one of `(`, `[`) and its match, brackets of any
/// kind nested inside.
fn enclosed(text: &str, open: usize) -> &str {
    let mut depth = 0;
    for (index, c) in text[open..].char_indices() {
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => {
                depth -= 1;
                if depth == 0 {
                    return &text[open + 1..open + index];
                }
            }
            _ => {}
        }
    }
    panic!(
        "unbalanced brackets after {:?}",
        &text[open..text.len().min(open + 60)]
    );
}

/// How many comma-separated items a parameter or argument list holds (`void` and "" are none).
fn item_count(list: &str) -> usize {
    let list = list.trim();
    if list.is_empty() || list == "void" {
        return 0;
    }
    let mut depth = 0;
    let mut count = 1;
    for c in list.chars() {
        match c {
            '(' | '[' | '{' | '<' => depth += 1,
            ')' | ']' | '}' | '>' => depth -= 1,
            ',' if depth == 0 => count += 1,
            _ => {}
        }
    }
    count
}

fn identifier_at(text: &str, start: usize) -> &str {
    let end = text[start..]
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .map_or(text.len(), |end| start + end);
    &text[start..end]
}

/// Every `dsapi_…(` in `code` that is followed by `(`: (name, offset of the `(`).
fn calls_of_dsapi(code: &str) -> Vec<(String, usize)> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(at) = code[from..].find("dsapi_") {
        let start = from + at;
        let before = code[..start].chars().next_back();
        let name = identifier_at(code, start);
        from = start + name.len();
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        let after = code[from..].trim_start();
        if after.starts_with('(') {
            found.push((name.to_string(), code.len() - after.len()));
        }
    }
    found
}

/// The functions a C header declares: `type name(params);` at file level. Function pointer
/// typedefs (`(*name)(…)`) are types, not functions.
fn header_functions(header: &str) -> Signatures {
    let code = without_comments(header);
    calls_of_dsapi(&code)
        .into_iter()
        .filter(|(name, _)| !code.contains(&format!("(*{name})")))
        .map(|(name, open)| {
            let count = item_count(enclosed(&code, open));
            (name, count)
        })
        .collect()
}

/// The type names a C header defines (`typedef … name;`, `typedef … (*name)(…);`): a C++
/// function pointer type such as `dsapi_status (*read)(…)` is not a use of a function.
fn header_types(header: &str) -> Vec<String> {
    let code = without_comments(header);
    code.split(';')
        .filter_map(|statement| statement.trim().strip_prefix("typedef "))
        .filter_map(
            |typedef| match (typedef.strip_prefix("struct "), typedef.find("(*")) {
                (Some(tag), _) => Some(identifier_at(tag, 0)),
                (None, Some(at)) => Some(identifier_at(typedef, at + 2)),
                (None, None) => typedef.split_whitespace().last(),
            },
        )
        .map(str::to_string)
        .collect()
}

/// The field names of `typedef struct NAME { … }` in a C header, in order.
fn header_struct_fields(header: &str, name: &str) -> Vec<String> {
    let code = without_comments(header);
    let start = code
        .find(&format!("struct {name} {{"))
        .unwrap_or_else(|| panic!("struct {name} not found"));
    let open = start + code[start..].find('{').expect("brace");
    enclosed(&code, open)
        .split(';')
        .filter_map(|field| field.split_whitespace().last())
        .map(|field| field.trim_start_matches('*').to_string())
        .collect()
}

/// `_declare("dsapi_x", restype, [argtypes])` and `_declare_status("dsapi_x", [argtypes])`.
fn python_functions(native: &str) -> Signatures {
    let mut found = Signatures::new();
    for (at, _) in native.match_indices("_declare") {
        let Some(name_at) = native[at..].find("\"dsapi_").map(|i| at + i + 1) else {
            continue;
        };
        let head = &native[at..name_at];
        if !(head.starts_with("_declare(") || head.starts_with("_declare_status("))
            || head.contains(')')
        {
            continue;
        }
        let name = identifier_at(native, name_at);
        let open = name_at + native[name_at..].find('[').expect("an argtypes list");
        found.insert(name.to_string(), item_count(enclosed(native, open)));
    }
    found
}

/// The names of the `_fields_` of the ctypes Structure `class NAME(Structure)`.
fn python_struct_fields(native: &str, class: &str) -> Vec<String> {
    let start = native
        .find(&format!("class {class}("))
        .unwrap_or_else(|| panic!("class {class} not found"));
    let open = start + native[start..].find("_fields_").expect("_fields_");
    let open = open + native[open..].find('[').expect("[");
    enclosed(native, open)
        .split('(')
        .skip(1)
        .filter_map(|field| field.split('"').nth(1))
        .map(str::to_string)
        .collect()
}

/// `static extern T dsapi_x(params);` after a `[DllImport(…)]`.
fn csharp_functions(native_methods: &str) -> Signatures {
    let code = without_comments(native_methods);
    calls_of_dsapi(&code)
        .into_iter()
        .filter(|(_, open)| {
            let line_start = code[..*open].rfind(['\n', ';', '}']).unwrap_or(0);
            code[line_start..*open].contains("static extern")
        })
        .map(|(name, open)| (name, item_count(enclosed(&code, open))))
        .collect()
}

/// The `public T Name;` fields of `struct NAME`, in order.
fn csharp_struct_fields(native_methods: &str, name: &str) -> Vec<String> {
    let code = without_comments(native_methods);
    let start = code
        .find(&format!("struct {name}"))
        .unwrap_or_else(|| panic!("struct {name} not found"));
    let open = start + code[start..].find('{').expect("brace");
    enclosed(&code, open)
        .split(';')
        .filter_map(|field| field.split_whitespace().last())
        .map(str::to_string)
        .collect()
}

/// `days_left` → `DaysLeft`.
fn pascal_case(name: &str) -> String {
    name.split('_')
        .map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// The C++ layer's uses of each function: for each, the argument counts of its direct calls
/// (none when it is only passed by address, as `&dsapi_last_error_message`).
fn cpp_uses(hpp: &str) -> BTreeMap<String, Vec<usize>> {
    let code = without_comments(hpp);
    let mut uses: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (name, open) in calls_of_dsapi(&code) {
        uses.entry(name)
            .or_default()
            .push(item_count(enclosed(&code, open)));
    }
    for (at, _) in code.match_indices("&dsapi_") {
        uses.entry(identifier_at(&code, at + 1).to_string())
            .or_default();
    }
    uses
}

/// What differs between the header's functions and one wrapper's declarations.
fn differences(header: &Signatures, wrapper: &Signatures, what: &str) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, count) in header {
        match wrapper.get(name) {
            None => problems.push(format!("{what}: {name} is not declared")),
            Some(declared) if declared != count => problems.push(format!(
                "{what}: {name} has {declared} parameters, the header {count}"
            )),
            Some(_) => {}
        }
    }
    for name in wrapper.keys().filter(|name| !header.contains_key(*name)) {
        problems.push(format!("{what}: {name} is not in the header"));
    }
    problems
}

#[test]
fn every_wrapper_declares_every_function_of_the_header() {
    let header = read("include/downstream_api.h");
    let functions = header_functions(&header);
    assert!(
        functions.len() >= 28,
        "the header parser found {functions:?}"
    );
    assert_eq!(functions.get("dsapi_client_call"), Some(&6));
    assert_eq!(functions.get("dsapi_version"), Some(&0));
    let python = read("bindings/python/downstream_api/_native.py");
    let csharp = read("bindings/csharp/DownstreamApi/NativeMethods.cs");
    let mut problems = differences(&functions, &python_functions(&python), "Python _native.py");
    problems.extend(differences(
        &functions,
        &csharp_functions(&csharp),
        "C# NativeMethods.cs",
    ));
    let uses = cpp_uses(&read("include/downstream_api.hpp"));
    for (name, count) in &functions {
        match uses.get(name) {
            None => problems.push(format!("C++ downstream_api.hpp: {name} is never used")),
            Some(calls) => problems.extend(calls.iter().filter(|n| *n != count).map(|n| {
                format!("C++ downstream_api.hpp: {name} called with {n} arguments, not {count}")
            })),
        }
    }
    let types = header_types(&header);
    for name in uses
        .keys()
        .filter(|name| !functions.contains_key(*name) && !types.contains(name))
    {
        problems.push(format!(
            "C++ downstream_api.hpp: {name} is not in the header"
        ));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_wrapper_reads_every_field_of_the_event() {
    let header = read("include/downstream_api.h");
    let fields = header_struct_fields(&header, "dsapi_credential_event");
    assert_eq!(
        fields.first().map(String::as_str),
        Some("kind"),
        "{fields:?}"
    );
    assert!(fields.contains(&"days_left".to_string()), "{fields:?}");
    let python = python_struct_fields(
        &read("bindings/python/downstream_api/_native.py"),
        "dsapi_credential_event",
    );
    assert_eq!(python, fields, "Python's _fields_ of the event");
    let csharp: Vec<String> = csharp_struct_fields(
        &read("bindings/csharp/DownstreamApi/NativeMethods.cs"),
        "NativeCredentialEvent",
    );
    let expected: Vec<String> = fields.iter().map(|f| pascal_case(f)).collect();
    assert_eq!(csharp, expected, "C#'s NativeCredentialEvent (same order)");
    let hpp = without_comments(&read("include/downstream_api.hpp"));
    let unread: Vec<&String> = fields
        .iter()
        .filter(|field| !hpp.contains(&format!("event->{field}")))
        .collect();
    assert!(unread.is_empty(), "the C++ layer never reads {unread:?}");
}

#[test]
fn the_parsers_read_the_shapes_the_files_use() {
    let header = "// dsapi_commented(int a);\ntypedef void (*dsapi_cb)(void *u, int l);\n\
                  typedef struct dsapi_ev {\n  uint32_t kind;\n  // why\n  const char *error;\n} dsapi_ev;\n\
                  /** doc dsapi_in_doc(x) */\nconst char *dsapi_version(void);\n\
                  dsapi_status dsapi_f(const struct dsapi_client *client,\n  void (*f)(int, int),\n  size_t n);\n";
    let functions = header_functions(header);
    assert_eq!(
        functions,
        Signatures::from([("dsapi_f".into(), 3), ("dsapi_version".into(), 0)])
    );
    assert_eq!(header_struct_fields(header, "dsapi_ev"), ["kind", "error"]);
    assert_eq!(header_types(header), ["dsapi_cb", "dsapi_ev"]);
    let python = "_declare(\"dsapi_version\", c_char_p, [])\n_declare_status(\n    \"dsapi_f\",\n    \
                  [ClientPtr, POINTER(c_char), c_size_t],\n)\nclass Ev(Structure):\n    \
                  _fields_ = [(\"kind\", c_uint32), (\"error\", c_char_p)]\n";
    assert_eq!(python_functions(python), functions);
    assert_eq!(python_struct_fields(python, "Ev"), ["kind", "error"]);
    let csharp = "[DllImport(Library)]\ninternal static extern IntPtr dsapi_version();\n\
                  [DllImport(Library)]\ninternal static extern uint dsapi_f(\n    ClientHandle c,\n    \
                  [MarshalAs(UnmanagedType.FunctionPtr)] Cb f, UIntPtr n);\n\
                  internal struct Ev\n{\n    public uint Kind;\n    public IntPtr Error;\n}\n";
    assert_eq!(csharp_functions(csharp), functions);
    assert_eq!(csharp_struct_fields(csharp, "Ev"), ["Kind", "Error"]);
    let hpp = "check(dsapi_f(handle_.get(), cond ? a(1, 2) : nullptr, v.size()));\n\
               read(&dsapi_version);\n// dsapi_gone(1)\n";
    let uses = cpp_uses(hpp);
    assert_eq!(uses.get("dsapi_f"), Some(&vec![3]));
    assert_eq!(uses.get("dsapi_version"), Some(&vec![]));
    assert!(!uses.contains_key("dsapi_gone"));
    // A removed declaration and a changed count are both reported.
    let mut python_missing = functions.clone();
    python_missing.remove("dsapi_f");
    assert_eq!(differences(&functions, &python_missing, "P").len(), 1);
    python_missing.insert("dsapi_f".into(), 2);
    assert_eq!(differences(&functions, &python_missing, "P").len(), 1);
}
