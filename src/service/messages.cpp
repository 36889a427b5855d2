#include "service/messages.h"

#include <algorithm>
#include <numeric>

#include "core/error.h"
#include "image/codec.h"
#include "service/base64.h"

namespace facepipe::service {
namespace {

using nlohmann::json;

std::string encode_crop(const cv::Mat& rgb, bool jpeg) {
  return base64_encode(jpeg ? image::encode_jpeg(rgb, 95) : image::encode_png(rgb));
}

json box_json(const face::Box& b) { return {b.x1, b.y1, b.x2, b.y2}; }

face::Box box_from(const json& j) {
  if (!j.is_array() || j.size() != 4)
    throw Error(ErrorKind::kInvalidInput, "request message: 'box' must be [x1,y1,x2,y2]");
  return face::Box{j[0].get<float>(), j[1].get<float>(), j[2].get<float>(), j[3].get<float>()};
}

}  // namespace

std::string encode_request(const RequestMessage& m) {
  const char* method = m.crop_spec.method == face::CropSpec::Method::kAligned ? "aligned" : "box";
  // Largest faces are kept first when some must be dropped.
  std::vector<size_t> order(m.faces.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return m.faces[a].detection.box.area() > m.faces[b].detection.box.area();
  });
  for (bool jpeg : {false, true}) {
    std::vector<std::string> crops;
    for (auto& f : m.faces) crops.push_back(encode_crop(f.crop, jpeg));
    for (size_t keep = m.faces.size();; --keep) {
      std::vector<bool> kept(m.faces.size(), false);
      for (size_t i = 0; i < keep; ++i) kept[order[i]] = true;
      json faces = json::array();
      for (size_t i = 0; i < m.faces.size(); ++i) {
        if (!kept[i]) continue;
        auto& d = m.faces[i].detection;
        json lm = json::array();
        for (auto& p : d.landmarks) lm.push_back({p.x, p.y});
        faces.push_back({{"box", box_json(d.box)},
                         {"prob", d.prob},
                         {"landmarks", lm},
                         {"crop_format", jpeg ? "jpeg" : "png"},
                         {"crop", crops[i]}});
      }
      json j = {
          {"v", 1},
          {"request_id", m.request_id},
          {"filename", m.filename},
          {"frame", {{"width", m.width}, {"height", m.height}}},
          {"crop_spec", {{"method", method}, {"size", m.crop_spec.size}, {"margin", m.crop_spec.margin}}},
          {"faces", faces},
          {"accepted_ms", m.accepted_ms}};
      int dropped = m.faces_dropped + static_cast<int>(m.faces.size() - keep);
      if (dropped > 0) j["faces_dropped"] = dropped;
      std::string body = j.dump();
      if (body.size() <= kMaxMessageBytes) return body;
      // PNG did not fit: try JPEG for every face before dropping any.
      if (!jpeg || keep == 0) break;
    }
  }
  throw Error(ErrorKind::kInternal, "request message does not fit in 256 KiB even without faces");
}

RequestMessage decode_request(const std::string& body) {
  RequestMessage m;
  try {
    json j = json::parse(body);
    m.request_id = j.at("request_id").get<std::string>();
    m.filename = j.value("filename", "");
    m.width = j.at("frame").at("width").get<int>();
    m.height = j.at("frame").at("height").get<int>();
    auto& spec = j.at("crop_spec");
    m.crop_spec.method = spec.at("method").get<std::string>() == "aligned" ? face::CropSpec::Method::kAligned
                                                                           : face::CropSpec::Method::kBox;
    m.crop_spec.size = spec.at("size").get<int>();
    m.crop_spec.margin = spec.value("margin", 0.0f);
    m.accepted_ms = j.value("accepted_ms", int64_t{0});
    m.faces_dropped = j.value("faces_dropped", 0);
    for (auto& f : j.at("faces")) {
      FaceCrop fc;
      fc.detection.box = box_from(f.at("box"));
      fc.detection.prob = f.value("prob", 0.0f);
      auto& lm = f.at("landmarks");
      for (size_t i = 0; i < 5 && i < lm.size(); ++i)
        fc.detection.landmarks[i] = {lm[i][0].get<float>(), lm[i][1].get<float>()};
      std::string bytes = base64_decode(f.at("crop").get<std::string>());
      cv::Mat rgb;
      try {
        rgb = bytes.size() > 3 && static_cast<unsigned char>(bytes[0]) == 0xFF ? image::decode_jpeg(bytes)
                                                                               : image::decode_png(bytes);
      } catch (const Error&) {
        rgb = cv::Mat();
      }
      if (rgb.empty() || rgb.rows != m.crop_spec.size || rgb.cols != m.crop_spec.size)
        throw Error(ErrorKind::kInvalidInput, "request message: a face crop is not a " +
                                                  std::to_string(m.crop_spec.size) + "x" +
                                                  std::to_string(m.crop_spec.size) + " image");
      fc.crop = rgb;
      m.faces.push_back(std::move(fc));
    }
  } catch (const json::exception& e) {
    throw Error(ErrorKind::kInvalidInput, std::string("request message is malformed: ") + e.what());
  }
  return m;
}

json response_json(const std::string& request_id, const std::string& filename,
                   const recognition::FrameAnswer& frame, recognition::AnswerPolicy policy) {
  json list = json::array();
  for (const auto& f : frame.faces) list.push_back(recognition::face_json(f));
  return {{"request_id", request_id},
          {"result", frame.no_face() ? std::string(kNoFace) : frame.result},
          {"filename", filename},
          {"answer", recognition::to_string(policy)},
          {"faces", list}};
}

}  // namespace facepipe::service
