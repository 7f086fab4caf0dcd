//! The layers of `engine/src` (docs/architecture.md): a module uses only the modules below
//! it, and the energy layer only the storage core's public API. This test reads the sources
//! and fails on an upward `crate::` path outside comments, or a path of the energy layer
//! that a separate crate could not write, so that the layering cannot drift silently.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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
    "db",
    "energy",
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

/// Modules above the storage core that may use only its public API: what the crate root
/// re-exports and the public items of its public modules.
const PUBLIC_API_ONLY: &[&str] = &["energy"];

/// The macros the crate exports (`#[macro_export] macro_rules! name`): a separate crate
/// writes them `meterdb::name!`.
fn exported_macros(src: &Path) -> Vec<String> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let mut rest = text.as_str();
        while let Some(i) = rest.find("#[macro_export]") {
            rest = &rest[i..];
            let Some(j) = rest.find("macro_rules!") else {
                break;
            };
            rest = &rest[j + "macro_rules!".len()..];
            let name: String = rest
                .trim_start()
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            out.push(name);
        }
    }
    out
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
    let mut bad = Vec::new();
    for (f, rel, module) in files_by_module(&src) {
        let module = module.as_str();
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

/// The modules the crate root declares `pub mod` (the others are private).
fn public_modules(lib: &str) -> Vec<String> {
    lib.lines()
        .filter_map(|l| l.trim().strip_prefix("pub mod "))
        .map(|m| m.trim_end_matches(';').to_string())
        .collect()
}

/// The source of a module (`src/m.rs`, or every file of `src/m/`), comments removed.
fn module_source(src: &Path, m: &str) -> String {
    let mut files = Vec::new();
    let file = src.join(format!("{m}.rs"));
    if file.exists() {
        files.push(file);
    } else {
        rust_files(&src.join(m), &mut files);
    }
    let mut out = String::new();
    for f in files {
        for line in std::fs::read_to_string(f).unwrap().lines() {
            out.push_str(line.split("//").next().unwrap());
            out.push('\n');
        }
    }
    out
}

/// Whether `m`'s source declares `name` public to other crates: `pub fn name`, `pub struct
/// name`, … or a `pub use` naming it (not `pub(crate)`, `pub(super)`, nor private).
fn declares_public(src: &str, name: &str) -> bool {
    let kinds = [
        "fn", "struct", "enum", "const", "static", "trait", "type", "mod",
    ];
    let ident = |rest: &str| {
        rest.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect::<String>()
            == name
    };
    for (i, _) in src.match_indices("pub ") {
        let rest = &src[i + 4..];
        for k in kinds {
            if let Some(r) = rest.strip_prefix(k).and_then(|r| r.strip_prefix(' ')) {
                if ident(r) {
                    return true;
                }
            }
        }
        if let Some(r) = rest.strip_prefix("use ") {
            let stmt = &r[..r.find(';').unwrap_or(r.len())];
            if stmt
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .any(|w| w == name)
            {
                return true;
            }
        }
    }
    false
}

/// The paths of `code` that start with `crate::`, with `{a, b}` groups expanded one level:
/// `crate::m::{a, b}` gives `m::a` and `m::b`.
fn crate_paths(code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + 7..];
        let mut segs = Vec::new();
        let mut r = rest;
        loop {
            let id: String = r
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if id.is_empty() {
                break;
            }
            r = &r[id.len()..];
            segs.push(id);
            match r.strip_prefix("::") {
                Some(x) => r = x,
                None => break,
            }
        }
        if let Some(group) = r.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let item = item.trim().split("::").next().unwrap().trim();
                let item = item.split_whitespace().next().unwrap_or("");
                if !item.is_empty() && item != "self" {
                    let mut p = segs.clone();
                    p.push(item.to_string());
                    out.push(p);
                }
            }
        } else {
            out.push(segs);
        }
    }
    out
}

#[test]
fn the_energy_layer_uses_only_the_public_api() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let items = root_items(&lib);
    let public = public_modules(&lib);
    let macros = exported_macros(&src);
    assert!(macros.iter().any(|m| m == "code_enum"), "{macros:?}");
    let mut bad = Vec::new();
    for layer in PUBLIC_API_ONLY {
        assert!(
            public.iter().any(|m| m == layer),
            "{layer} is not a pub mod"
        );
        let mut files = Vec::new();
        rust_files(&src.join(layer), &mut files);
        assert!(!files.is_empty(), "no files in src/{layer}");
        for f in files {
            let rel = f.strip_prefix(&src).unwrap().display().to_string();
            let text = std::fs::read_to_string(&f).unwrap();
            for (n, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap();
                let at = format!("{rel}:{}", n + 1);
                // `super::` climbs out of the layer's folder only from its mod.rs, and
                // `super::super::` from any of its files.
                if code.contains("super::super::")
                    || (f.ends_with("mod.rs") && code.contains("super::"))
                {
                    bad.push(format!("{at}: `super::` out of src/{layer}"));
                }
                for p in crate_paths(code) {
                    let Some(first) = p.first() else { continue };
                    if first == layer || items.contains_key(first) || macros.contains(first) {
                        continue; // itself, an item the crate root re-exports, a macro
                    }
                    if !public.contains(first) {
                        bad.push(format!("{at}: crate::{} is not public", p.join("::")));
                        continue;
                    }
                    // A public module: the item named must be public in it.
                    let Some(item) = p.get(1) else { continue };
                    if !declares_public(&module_source(&src, first), item) {
                        bad.push(format!(
                            "{at}: crate::{first}::{item} is not a public item of {first}"
                        ));
                    }
                }
            }
        }
    }
    assert!(bad.is_empty(), "beyond the public API:\n{}", bad.join("\n"));
}

/// The storage core keeps each point's standard-coal coefficients (catalog tag 10, the
/// on-disk format) but converts nothing: standard coal and period comparisons are the
/// energy layer's (`energy/coal.rs`, `energy/compare.rs`), built on the core's
/// `Db::rollup_sum_converted` and `Db::rollup_sum`.
#[test]
fn the_core_converts_no_coal() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let core = &LAYERS[..LAYERS.iter().position(|m| *m == "db").unwrap() + 1];
    let mut bad = Vec::new();
    for (f, rel, module) in files_by_module(&src) {
        if !core.contains(&module.as_str()) {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap();
            for word in [
                "CoalUnit",
                "Comparison",
                "coal_sum",
                "fn compare",
                ".coal_at(",
            ] {
                if code.contains(word) {
                    bad.push(format!("{}:{}: {word}", rel.display(), n + 1));
                }
            }
        }
    }
    assert!(bad.is_empty(), "coal in the core:\n{}", bad.join("\n"));
    for f in ["coal.rs", "compare.rs"] {
        assert!(src.join("energy").join(f).exists(), "energy/{f}");
    }
}

/// The checker itself: paths a separate crate could not write are caught.
#[test]
fn the_public_api_check_catches_private_paths() {
    let p = crate_paths("use crate::db::{Inner, Db}; let x = crate::memtable::Memtable::new();");
    assert_eq!(
        p,
        [
            vec!["db".to_string(), "Inner".into()],
            vec!["db".into(), "Db".into()],
            vec!["memtable".into(), "Memtable".into(), "new".into()],
        ]
    );
    let src = "pub(crate) fn hidden() {}\npub fn shown() {}\npub use x::{A, B};\nfn private() {}";
    assert!(declares_public(src, "shown"));
    assert!(declares_public(src, "B"));
    assert!(!declares_public(src, "hidden"));
    assert!(!declares_public(src, "private"));
}

/// Every Rust file under `src`: its path, its path below `src` and the top-level module it
/// belongs to (`lib`, `bin`, `db`, ...).
fn files_by_module(src: &Path) -> Vec<(PathBuf, PathBuf, String)> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files
        .into_iter()
        .map(|f| {
            let rel = f.strip_prefix(src).unwrap().to_path_buf();
            let first = rel.iter().next().unwrap().to_str().unwrap();
            let module = first.trim_end_matches(".rs").to_string();
            (f, rel, module)
        })
        .collect()
}
