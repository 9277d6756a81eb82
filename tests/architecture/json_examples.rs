//! The JSON examples of the README and the guides are valid: each ```json block parses (a
//! fragment of `"Section": {…}` members is read inside braces, as it would sit in a file), and
//! one holding `DownstreamApis` configures a client as written (credentials load on first use,
//! so the paths it names need not exist). The users-and-agents guide's examples are also run
//! against the fake endpoint by tests/users_and_agents/guide.rs.

use std::path::Path;

use downstream_api::DownstreamApi;

#[test]
fn every_json_example_of_the_readme_and_the_guides_is_valid() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut pages = vec![root.join("README.md")];
    for entry in std::fs::read_dir(root.join("docs/guide")).expect("read docs/guide") {
        pages.push(entry.expect("entry").path());
    }
    let mut checked = 0;
    for page in &pages {
        let text = std::fs::read_to_string(page).expect("read a page");
        for block in text.split("```json\n").skip(1) {
            let block = block.split("\n```").next().unwrap_or_default();
            // An ellipsis stands for "more of the same" in prose examples: not JSON.
            if block.contains('…') {
                continue;
            }
            let json = match block.trim_start().starts_with('{') {
                true => block.to_string(),
                false => format!("{{{block}}}"),
            };
            let value: serde_json::Value = serde_json::from_str(&json)
                .unwrap_or_else(|e| panic!("{}: {e}\n{block}", page.display()));
            if value.get("DownstreamApis").is_some() && value.get("AzureAd").is_some() {
                DownstreamApi::from_json(&json)
                    .unwrap_or_else(|e| panic!("{}: {e}\n{block}", page.display()));
            }
            checked += 1;
        }
    }
    assert!(checked >= 8, "only {checked} JSON examples");
}
