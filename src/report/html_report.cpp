#include "report/html_report.h"

#include "core/errors.h"
#include "data/atomic_file.h"
#include "report_assets.h"  // generated: kReportCss, kReportJs

namespace transfix {

namespace {

std::string report_kind(const nlohmann::json& report) {
  const std::string schema = report.is_object() && report.contains("schema") && report["schema"].is_string()
                                 ? report["schema"].get<std::string>()
                                 : "";
  for (const char* kind : {"compare", "localize", "repair", "coverage"})
    if (schema == std::string("transfix.") + kind + "/1") return kind;
  throw InputError("html report: unknown report schema '" + schema + "'");
}

// Text for the <title>: only characters that need no escaping in HTML.
std::string plain(const std::string& s) {
  std::string out;
  for (char c : s) out += (c == '<' || c == '>' || c == '&' || c == '"') ? '_' : c;
  return out;
}

}  // namespace

std::string json_for_script(const nlohmann::json& j) {
  const std::string text = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::string out;
  out.reserve(text.size() + text.size() / 64);
  // '<' only occurs inside JSON strings, where \u003c means the same character.
  for (char c : text) out += c == '<' ? std::string("\\u003c") : std::string(1, c);
  return out;
}

std::string html_report(const nlohmann::json& report) {
  const std::string kind = report_kind(report);
  std::string title = "transfix " + kind;
  if (report.contains("verdict") && report["verdict"].is_string()) title += ": " + plain(report["verdict"].get<std::string>());
  std::string page;
  page += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  page += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  // Nothing may be fetched: the report must read the same offline, attached to a bug report.
  page += "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; "
          "style-src 'unsafe-inline'; script-src 'unsafe-inline'\">\n";
  page += "<meta name=\"generator\" content=\"transfix " TRANSFIX_VERSION "\">\n";
  page += "<title>" + title + "</title>\n<style>\n" + std::string(kReportCss) + "</style>\n</head>\n<body>\n";
  page += "<div id=\"app\" data-kind=\"" + kind + "\"><noscript>This report is drawn by JavaScript; its data is the JSON "
          "in the report-data script element of this file.</noscript></div>\n";
  page += "<script type=\"application/json\" id=\"report-data\">" + json_for_script(report) + "</script>\n";
  page += "<script>\n" + std::string(kReportJs) + "</script>\n</body>\n</html>\n";
  return page;
}

void write_html_report(const std::string& path, const nlohmann::json& report) {
  write_file_atomic(path, html_report(report));
}

}  // namespace transfix
