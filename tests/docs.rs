//! The documentation holds together: the README stays short, and every link
//! of the README, the guide (`docs/`) and the other Markdown files leads to
//! a file, and a heading, that exists.
//!
//! Guide pages link to each other with reference links whose label is the
//! page's file name without `.md` (`[Operations][operations]`, defined at
//! the page's foot as `[operations]: operations.md`): `src/guide.rs` defines
//! the same labels as intra-doc links for rustdoc, so a page read on GitHub
//! and the same page on docs.rs both link. The tests below hold the pages
//! to that form.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Component, Path, PathBuf};

/// The most lines the README may have: a newcomer reads it in five minutes.
const README_BUDGET: usize = 250;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// The guide's pages, `docs/*.md`, sorted.
fn guide_pages() -> Vec<PathBuf> {
    let mut pages: Vec<PathBuf> = fs::read_dir(root().join("docs"))
        .expect("a docs folder")
        .map(|entry| entry.expect("a readable docs folder").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .collect();
    pages.sort();
    assert!(!pages.is_empty(), "no page in docs/");
    pages
}

/// Every Markdown file whose links are checked.
fn markdown_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = [
        "README.md",
        "CHANGELOG.md",
        "examples/README.md",
        "relayer-rpc/README.md",
        "relayer-test/README.md",
    ]
    .iter()
    .map(|file| root().join(file))
    .collect();
    files.extend(guide_pages());
    files
}

fn stem(path: &Path) -> &str {
    path.file_stem().and_then(|stem| stem.to_str()).unwrap()
}

/// The text of a Markdown file outside fenced code blocks and code spans,
/// line by line (a removed span leaves a space, so no link is made up).
fn prose(markdown: &str) -> Vec<String> {
    let mut in_fence = false;
    markdown
        .lines()
        .map(|line| {
            if line.trim_start().starts_with("```") {
                in_fence = !in_fence;
                return String::new();
            }
            if in_fence {
                return String::new();
            }
            let mut text = String::new();
            for (i, part) in line.split('`').enumerate() {
                text.push_str(if i % 2 == 0 { part } else { " " });
            }
            text
        })
        .collect()
}

/// A link's destination and how it is written.
#[derive(Debug)]
struct Link {
    line: usize,
    target: String,
    /// `[text](target)`, as opposed to a reference definition `[label]: target`.
    inline: bool,
    /// The label of a reference definition.
    label: Option<String>,
}

fn links(markdown: &str) -> Vec<Link> {
    let mut links = Vec::new();
    for (index, line) in prose(markdown).iter().enumerate() {
        let line_number = index + 1;
        if let Some(rest) = line.strip_prefix('[')
            && let Some((label, target)) = rest.split_once("]: ")
        {
            links.push(Link {
                line: line_number,
                target: target.trim().to_owned(),
                inline: false,
                label: Some(label.to_owned()),
            });
            continue;
        }
        let mut rest = line.as_str();
        while let Some(start) = rest.find("](") {
            let after = &rest[start + 2..];
            let end = after.find(')').unwrap_or(after.len());
            links.push(Link {
                line: line_number,
                target: after[..end].to_owned(),
                inline: true,
                label: None,
            });
            rest = &after[end..];
        }
    }
    links
}

/// The labels used in reference links, `[text][label]`.
fn reference_uses(markdown: &str) -> BTreeSet<String> {
    let mut labels = BTreeSet::new();
    for line in prose(markdown) {
        let mut rest = line.as_str();
        while let Some(start) = rest.find("][") {
            let after = &rest[start + 2..];
            let Some(end) = after.find(']') else { break };
            labels.insert(after[..end].to_owned());
            rest = &after[end..];
        }
    }
    labels
}

/// GitHub's anchor of a heading: lower case, spaces as hyphens, other
/// punctuation dropped. rustdoc makes the same ids for these headings.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

fn anchors(markdown: &str) -> BTreeSet<String> {
    let mut in_fence = false;
    let mut anchors = BTreeSet::new();
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
        } else if !in_fence && line.starts_with('#') {
            anchors.insert(anchor(line.trim_start_matches('#')));
        }
    }
    anchors
}

fn is_external(target: &str) -> bool {
    target.starts_with("https://") || target.starts_with("http://") || target.starts_with("mailto:")
}

/// `base/relative` without `.` and `..`, so that it stays comparable.
fn resolve(base: &Path, relative: &str) -> PathBuf {
    let mut path = PathBuf::new();
    for component in base.join(relative).components() {
        match component {
            Component::ParentDir => {
                path.pop();
            }
            Component::CurDir => {}
            other => path.push(other),
        }
    }
    path
}

/// What is wrong with a link of `file`: a file that does not exist, or an
/// anchor that is no heading of the Markdown file it points into.
fn broken(file: &Path, link: &Link) -> Option<String> {
    if is_external(&link.target) {
        return None;
    }
    let (path, fragment) = match link.target.split_once('#') {
        Some((path, fragment)) => (path, Some(fragment)),
        None => (link.target.as_str(), None),
    };
    let target = if path.is_empty() {
        file.to_owned()
    } else {
        resolve(file.parent().unwrap(), path)
    };
    if !target.exists() {
        return Some(format!("{} does not exist", target.display()));
    }
    let fragment = fragment?;
    if target.extension().is_none_or(|ext| ext != "md") {
        return Some(format!("#{fragment} in a file that is not Markdown"));
    }
    if anchors(&read(&target)).contains(fragment) {
        None
    } else {
        Some(format!("{} has no heading #{fragment}", target.display()))
    }
}

#[test]
fn the_readme_stays_within_its_budget() {
    let lines = read(&root().join("README.md")).lines().count();
    assert!(
        lines <= README_BUDGET,
        "README.md has {lines} lines, its budget is {README_BUDGET}: move the details into a guide page (docs/)"
    );
}

#[test]
fn every_link_leads_to_a_file_and_heading_that_exist() {
    let mut problems = Vec::new();
    for file in markdown_files() {
        for link in links(&read(&file)) {
            if let Some(problem) = broken(&file, &link) {
                problems.push(format!(
                    "{}:{}: {}: {problem}",
                    file.display(),
                    link.line,
                    link.target
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "broken links:\n{}",
        problems.join("\n")
    );
}

#[test]
fn guide_pages_link_each_other_in_the_form_rustdoc_also_follows() {
    let pages: BTreeSet<String> = guide_pages().iter().map(|p| stem(p).to_owned()).collect();
    let mut problems = Vec::new();
    for page in guide_pages() {
        let markdown = read(&page);
        let mut defined = BTreeSet::new();
        for link in links(&markdown) {
            let at = format!("{}:{}", page.display(), link.line);
            if is_external(&link.target) || link.target.starts_with('#') {
                if let Some(label) = link.label {
                    defined.insert(label);
                }
                continue;
            }
            // Anything else must be another page, by a label rustdoc knows.
            let page_name = link.target.strip_suffix(".md");
            match (&link.label, page_name) {
                (Some(label), Some(name)) if label == name && pages.contains(name) => {
                    defined.insert(label.clone());
                }
                (None, _) => problems.push(format!(
                    "{at}: ({}) is an inline link; write [text][{}] and define it at the foot of the page",
                    link.target,
                    page_name.unwrap_or("page")
                )),
                _ => problems.push(format!(
                    "{at}: [{}]: {} links what rustdoc cannot: only [page]: page.md for a page of docs/",
                    link.label.as_deref().unwrap_or_default(),
                    link.target
                )),
            }
        }
        for label in reference_uses(&markdown) {
            if !defined.contains(&label) {
                problems.push(format!(
                    "{}: [{label}] is used but not defined",
                    page.display()
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_guide_page_is_a_module_of_the_crate_docs() {
    let guide = read(&root().join("src/guide.rs"));
    let missing: Vec<String> = guide_pages()
        .iter()
        .map(|page| stem(page).to_owned())
        .filter(|stem| !guide.contains(&format!("= \"{stem}\",")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/ pages that src/guide.rs does not include: {missing:?}"
    );
}

#[test]
fn every_code_block_of_the_guide_says_its_language() {
    // rustdoc compiles a block without one as Rust.
    let mut problems = Vec::new();
    for page in guide_pages() {
        let mut in_fence = false;
        for (index, line) in read(&page).lines().enumerate() {
            let Some(info) = line.trim_start().strip_prefix("```") else {
                continue;
            };
            if !in_fence && info.trim().is_empty() {
                problems.push(format!("{}:{}", page.display(), index + 1));
            }
            in_fence = !in_fence;
        }
    }
    assert!(
        problems.is_empty(),
        "code blocks without a language (rust, sh, json, text, toml):\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_checks_see_what_they_check() {
    // The parsers above find links, labels and anchors where they are, and
    // not inside code.
    let markdown = "# The `outcome` and status (run A)\n\
        See [a](b.md#c) and [d][e], `[f](g)`.\n\
        ```rust\n[h](i)\n```\n\
        [e]: e.md\n";
    let found = links(markdown);
    assert_eq!(
        found.iter().map(|l| l.target.as_str()).collect::<Vec<_>>(),
        ["b.md#c", "e.md"]
    );
    assert!(found[0].inline && !found[1].inline);
    assert_eq!(found[1].label.as_deref(), Some("e"));
    assert_eq!(reference_uses(markdown), BTreeSet::from(["e".to_owned()]));
    assert_eq!(
        anchors(markdown),
        BTreeSet::from(["the-outcome-and-status-run-a".to_owned()])
    );
    let readme = root().join("README.md");
    let missing = Link {
        line: 1,
        target: "docs/no-such-page.md".to_owned(),
        inline: true,
        label: None,
    };
    assert!(broken(&readme, &missing).is_some());
    let no_heading = Link {
        target: "docs/operations.md#no-such-heading".to_owned(),
        ..missing
    };
    assert!(broken(&readme, &no_heading).is_some());
}
