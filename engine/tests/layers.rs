//! The layers of `engine/src` (docs/architecture.md): a module uses only the modules below
//! it. This test reads the sources and fails on an upward `crate::` path outside comments,
//! so that the layering cannot drift silently.

use std::collections::BTreeMap;
use std::path::Path;

/// The modules of `engine/src`, lowest first (as docs/architecture.md lists them).
const LAYERS: &[&str] = &[
    "error",
    "io",
    "format",
    "codec",
    "sample",
    "time",
    "tier",
    "wal",
    "catalog",
    "memtable",
    "segment",
    "manifest",
    "rollup",
    "compaction",
    "query",
    "unit",
    "db",
    "export",
    "fuzzing",
];

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The items the crate root re-exports (`pub use module::{A, B}`), by name: their module.
fn root_items(lib: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut rest = lib;
    while let Some(i) = rest.find("pub use ") {
        rest = &rest[i + 8..];
        let end = rest.find(';').unwrap();
        let stmt: String = rest[..end].split_whitespace().collect();
        rest = &rest[end..];
        let Some((module, items)) = stmt.split_once("::") else {
            continue;
        };
        let items = items.trim_start_matches('{').trim_end_matches('}');
        for item in items.split(',').filter(|x| !x.is_empty()) {
            out.insert(item.to_string(), module.to_string());
        }
    }
    out
}

#[test]
fn no_module_uses_a_module_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let rank: BTreeMap<&str, usize> = LAYERS.iter().enumerate().map(|(i, m)| (*m, i)).collect();
    let items = root_items(&std::fs::read_to_string(src.join("lib.rs")).unwrap());
    assert!(items.get("Db").is_some_and(|m| m == "db"), "{items:?}");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut bad = Vec::new();
    for f in files {
        let rel = f.strip_prefix(&src).unwrap();
        let first = rel.iter().next().unwrap().to_str().unwrap();
        let module = first.trim_end_matches(".rs");
        if module == "lib" || module == "bin" {
            continue; // the crate root re-exports; the tool is a user of the library
        }
        let Some(&mine) = rank.get(module) else {
            panic!("module {module} is not in the layer list (add it where it belongs)");
        };
        let text = std::fs::read_to_string(&f).unwrap();
        for (n, line) in text.lines().enumerate() {
            // Code only: comments (and doc links in them) are not uses.
            let code = line.split("//").next().unwrap();
            let mut rest = code;
            while let Some(i) = rest.find("crate::") {
                rest = &rest[i + 7..];
                let dep: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                // A module, or an item the crate root re-exports from one.
                let dep = items.get(&dep).cloned().unwrap_or(dep);
                let Some(&theirs) = rank.get(dep.as_str()) else {
                    continue; // a macro or another item of the crate root
                };
                if theirs > mine {
                    bad.push(format!("{}:{}: {module} uses {dep}", rel.display(), n + 1));
                }
            }
        }
    }
    assert!(bad.is_empty(), "upward uses:\n{}", bad.join("\n"));
}
