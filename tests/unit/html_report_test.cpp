// The HTML report's building blocks: JSON made safe for a <script> element, the page around a report,
// base64 (RFC 4648 test vectors), JPEG thumbnails decoded back with transfix's own decoder.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/errors.h"
#include "data/image.h"
#include "data/image_encode.h"
#include "report/html_report.h"

using namespace transfix;

namespace {

Image uniform_image(int width, int height, std::vector<uint8_t> pixel) {
  Image img;
  img.width = width, img.height = height, img.channels = static_cast<int>(pixel.size());
  for (int i = 0; i < width * height; ++i) img.pixels.insert(img.pixels.end(), pixel.begin(), pixel.end());
  return img;
}

// The text of <script type="application/json" id="report-data">...</script> in a page.
std::string embedded_data(const std::string& page) {
  const std::string open = "<script type=\"application/json\" id=\"report-data\">";
  const size_t begin = page.find(open);
  if (begin == std::string::npos) return {};
  const size_t start = begin + open.size();
  return page.substr(start, page.find("</script>", start) - start);
}

}  // namespace

TEST(Base64, Rfc4648Vectors) {
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode("foob"), "Zm9vYg==");
  EXPECT_EQ(base64_encode("fooba"), "Zm9vYmE=");
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64_encode(std::string("\xff\xfe\x00", 3)), "//4A");
}

TEST(ImageEncode, JpegDecodesBackToTheSameColour) {
  // A uniform image has only a DC coefficient per block: quality 90 keeps it within a few levels.
  Image back = decode_image(encode_jpeg(uniform_image(16, 8, {200, 100, 50}), 90), "t.jpg");
  ASSERT_EQ(back.width, 16);
  ASSERT_EQ(back.height, 8);
  EXPECT_NEAR(back.at(5, 3, 0), 200, 3);
  EXPECT_NEAR(back.at(5, 3, 1), 100, 3);
  EXPECT_NEAR(back.at(5, 3, 2), 50, 3);
  Image gray = decode_image(encode_jpeg(uniform_image(8, 8, {77}), 90), "g.jpg");
  EXPECT_EQ(gray.mode, "gray");
  EXPECT_NEAR(gray.at(2, 2, 0), 77, 2);
}

TEST(ImageEncode, RefusesImagesThatAreNotGrayOrRgb) {
  Image bad = uniform_image(2, 2, {1, 2, 3});
  bad.pixels.pop_back();
  EXPECT_THROW(encode_jpeg(bad, 80), InputError);
  EXPECT_THROW(encode_jpeg(Image{}, 80), InputError);
}

TEST(ImageEncode, ThumbnailKeepsAspectAndShrinksOnlyLargeImages) {
  const std::string prefix = "data:image/jpeg;base64,";
  auto decode_uri = [&](const std::string& uri) {
    EXPECT_EQ(uri.rfind(prefix, 0), 0u);
    // Inverse base64 by brute force on the alphabet (the test must not trust base64_encode alone).
    const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string bytes;
    uint32_t acc = 0;
    int bits = 0;
    for (char c : uri.substr(prefix.size())) {
      if (c == '=') break;
      acc = acc << 6 | static_cast<uint32_t>(alphabet.find(c));
      bits += 6;
      if (bits >= 8) bits -= 8, bytes += static_cast<char>(acc >> bits & 0xff);
    }
    return decode_image(bytes, "thumb.jpg");
  };
  Image wide = decode_uri(thumbnail_data_uri(uniform_image(200, 100, {10, 200, 30}), 64));
  EXPECT_EQ(wide.width, 64);
  EXPECT_EQ(wide.height, 32);
  EXPECT_NEAR(wide.at(30, 15, 1), 200, 3);
  Image small = decode_uri(thumbnail_data_uri(uniform_image(10, 20, {90, 90, 90}), 64));
  EXPECT_EQ(small.width, 10);
  EXPECT_EQ(small.height, 20);
}

TEST(HtmlReport, JsonForScriptHasNoAngleBracketAndParsesBack) {
  nlohmann::json j = {{"name", "</script><script>alert(1)</script><!--"}, {"n", 1.5}, {"ok", "a < b"}};
  const std::string text = json_for_script(j);
  EXPECT_EQ(text.find('<'), std::string::npos);
  EXPECT_EQ(nlohmann::json::parse(text), j);
}

TEST(HtmlReport, InvalidUtf8FromAModelIsReplacedNotFatal) {
  nlohmann::json j = {{"name", std::string("conv\xff\xfe")}};
  EXPECT_THROW(j.dump(), nlohmann::json::type_error);  // what --report's plain dump would do
  const nlohmann::json back = nlohmann::json::parse(json_for_script(j));
  EXPECT_EQ(back["name"].get<std::string>(), "conv\xEF\xBF\xBD\xEF\xBF\xBD");  // two U+FFFD
}

TEST(HtmlReport, PageEmbedsTheReportAndFetchesNothing) {
  nlohmann::json report = {{"schema", "transfix.compare/1"}, {"verdict", "DIVERGENT"}, {"outputs", nlohmann::json::array()},
                           {"source", {{"path", "</script>.onnx"}}}};
  const std::string page = html_report(report);
  EXPECT_EQ(page.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(page.find("<title>transfix compare: DIVERGENT</title>"), std::string::npos);
  EXPECT_NE(page.find("default-src 'none'"), std::string::npos);
  EXPECT_EQ(nlohmann::json::parse(embedded_data(page)), report);
  // Self-contained: no URL the browser would fetch.
  for (const char* needle : {"src=\"http", "href=\"http", "@import", "url(http", "<link"})
    EXPECT_EQ(page.find(needle), std::string::npos) << needle;
}

TEST(HtmlReport, EachReportKindAndOnlyThose) {
  for (const char* schema : {"transfix.compare/1", "transfix.localize/1", "transfix.repair/1", "transfix.coverage/1"})
    EXPECT_NE(html_report({{"schema", schema}}).find("id=\"report-data\""), std::string::npos) << schema;
  EXPECT_THROW(html_report({{"schema", "transfix.mutation/1"}}), InputError);
  EXPECT_THROW(html_report(nlohmann::json::array()), InputError);
}
