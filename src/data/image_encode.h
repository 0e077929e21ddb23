// Small images for reports: JPEG encoding (libjpeg) and data: URIs, so an HTML report can show the
// input a model got wrong without linking to files that will not travel with it.
#pragma once
#include <string>

#include "data/image.h"

namespace transfix {

// Baseline JPEG of an 8-bit gray or RGB image. Throws InputError if libjpeg fails.
std::string encode_jpeg(const Image& image, int quality);

// RFC 4648 base64 (with padding).
std::string base64_encode(const std::string& bytes);

// The image shrunk (PIL bilinear, aspect kept) so that its longer side is at most `max_side`,
// as "data:image/jpeg;base64,...". Images already small enough are encoded as they are.
std::string thumbnail_data_uri(const Image& image, int max_side = 64, int quality = 80);

}  // namespace transfix
