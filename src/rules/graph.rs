//! The status state machine as a Mermaid or Graphviz diagram, for docs.

use std::fmt::Write;

use super::file::RulesFile;

/// Diagram syntax.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraphFormat {
    Mermaid,
    Dot,
}

/// Renders `statuses` and `transitions`.
pub fn render(file: &RulesFile, format: GraphFormat) -> String {
    let mut out = String::new();
    match format {
        GraphFormat::Mermaid => {
            out.push_str("stateDiagram-v2\n");
            for s in &file.statuses {
                let _ = writeln!(
                    out,
                    "    s{}: {} {} ({})",
                    s.code, s.code, s.name.ja, s.name.en
                );
            }
            for s in file.statuses.iter().filter(|s| s.initial) {
                let _ = writeln!(out, "    [*] --> s{}", s.code);
            }
            for t in &file.transitions {
                let _ = writeln!(
                    out,
                    "    s{} --> s{}: {} ({})",
                    t.from,
                    t.to,
                    t.via,
                    actor(t.by)
                );
            }
            for s in file.statuses.iter().filter(|s| s.terminal) {
                let _ = writeln!(out, "    s{} --> [*]", s.code);
            }
        }
        GraphFormat::Dot => {
            out.push_str("digraph order_progress {\n    rankdir=LR;\n    node [shape=box];\n");
            for s in &file.statuses {
                let shape = if s.terminal { ", peripheries=2" } else { "" };
                let _ = writeln!(
                    out,
                    "    s{} [label=\"{} {}\\n{}\"{shape}];",
                    s.code,
                    s.code,
                    s.name.ja,
                    s.name.en.replace('"', "\\\"")
                );
            }
            for t in &file.transitions {
                let _ = writeln!(
                    out,
                    "    s{} -> s{} [label=\"{} ({})\"];",
                    t.from,
                    t.to,
                    t.via,
                    actor(t.by)
                );
            }
            out.push_str("}\n");
        }
    }
    out
}

fn actor(a: super::file::Actor) -> &'static str {
    match a {
        super::file::Actor::Shop => "shop",
        super::file::Actor::Rakuten => "rakuten",
        super::file::Actor::Buyer => "buyer",
    }
}
