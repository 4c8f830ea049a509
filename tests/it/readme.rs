//! README's links and the README sections `doctor` names exist, so neither can rot unseen.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use qbsync::doctor::readme::ReadmeSection;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// README's headings (outside code blocks), as written after the `#`s.
fn headings(readme: &str) -> Vec<String> {
    let mut fenced = false;
    let mut found = Vec::new();
    for line in readme.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        let hashes = line.chars().take_while(|c| *c == '#').count();
        if !fenced && (1..=6).contains(&hashes) && line[hashes..].starts_with(' ') {
            found.push(line[hashes..].trim().to_owned());
        }
    }
    found
}

/// GitHub's anchor for a heading: lower case, punctuation other than `-` and `_` dropped, each
/// space a `-`; a repeated anchor gets `-1`, `-2`, ….
fn anchors(headings: &[String]) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    for heading in headings {
        let text = heading.replace('`', "");
        let base: String = text
            .to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
            .map(|c| if c == ' ' { '-' } else { c })
            .collect();
        let mut anchor = base.clone();
        let mut n = 0;
        while seen.contains(&anchor) {
            n += 1;
            anchor = format!("{base}-{n}");
        }
        seen.insert(anchor);
    }
    seen
}

#[test]
fn github_anchors_follow_github_rules() {
    let headings: Vec<String> = [
        "From zero to a running service",
        "3. Give qbsync access to the sheet",
        "Logs, status page, metrics and alerts",
        "`qbsync void`",
        "The sheet",
        "The sheet",
    ]
    .map(str::to_owned)
    .to_vec();
    let anchors = anchors(&headings);
    for want in [
        "from-zero-to-a-running-service",
        "3-give-qbsync-access-to-the-sheet",
        "logs-status-page-metrics-and-alerts",
        "qbsync-void",
        "the-sheet",
        "the-sheet-1",
    ] {
        assert!(anchors.contains(want), "{want} in {anchors:?}");
    }
}

#[test]
fn every_link_within_readme_leads_to_a_section_that_exists() {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    let anchors = anchors(&headings(&readme));
    let links = regex::Regex::new(r"\]\(#([^)\s]+)\)").expect("regex");
    let targets: Vec<&str> = links.captures_iter(&readme).map(|c| c.get(1).map_or("", |m| m.as_str())).collect();
    assert!(targets.len() >= 10, "the contents are links: {targets:?}");
    let broken: Vec<&&str> = targets.iter().filter(|t| !anchors.contains(**t)).collect();
    assert!(broken.is_empty(), "README links to sections that do not exist: {broken:?}");
}

/// Every `.rs` file under `dir`.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable").flatten() {
        let path = entry.path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_readme_section_a_fix_or_an_error_names_exists() {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    let titles: BTreeSet<String> = headings(&readme).into_iter().collect();
    for section in ReadmeSection::ALL {
        assert!(titles.contains(section.title()), "doctor names README section {section}, which does not exist");
    }
    // Free-text mentions too (`README: "…"`, `README, '…'`), wherever in the sources they are.
    let mention = regex::Regex::new(r#"README[:,] *(?:\\?"|')([^"'\\{}]+)(?:\\?"|')"#).expect("regex");
    let mut files = Vec::new();
    sources(&root().join("src"), &mut files);
    let mut checked = 0;
    for file in files {
        let text = std::fs::read_to_string(&file).expect("source");
        for found in mention.captures_iter(&text) {
            let title = found.get(1).map_or("", |m| m.as_str());
            assert!(titles.contains(title), "{} names README section {title:?}, which does not exist", file.display());
            checked += 1;
        }
    }
    assert!(checked >= 1, "the free-text mentions were found");
}
