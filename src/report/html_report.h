// The HTML report: one self-contained file (inline CSS and JS, no network, no external resources)
// that renders a compare, localize, repair or coverage JSON report for people. The JSON itself is embedded in
// a <script type="application/json" id="report-data"> block, so the page is a view of exactly the
// data `--report` writes and tools can still read it back out of the HTML.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

namespace transfix {

// The page for a report whose "schema" is transfix.compare/1, transfix.localize/1, transfix.repair/1 or
// transfix.coverage/1 (InputError otherwise).
std::string html_report(const nlohmann::json& report);

// Writes html_report(report) atomically.
void write_html_report(const std::string& path, const nlohmann::json& report);

// JSON text that can sit inside a <script> element: '<' is written as \u003c (so neither "</script>"
// nor "<!--" can end or change the element), invalid UTF-8 from model files is replaced, not fatal.
std::string json_for_script(const nlohmann::json& j);

}  // namespace transfix
