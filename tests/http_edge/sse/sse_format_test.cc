#include "http_edge/sse/sse_format.h"

#include <string>
#include <tuple>
#include <vector>

#include "broker/message_id.h"
#include "client/sse_parser.h"
#include "gtest/gtest.h"

namespace pushbroker {
namespace {

std::vector<SseEvent> Parse(const std::string& stream) {
  SseParser parser;
  std::vector<SseEvent> events;
  parser.Feed(stream, &events);
  return events;
}

TEST(SseFormatTest, EncodesIdEventAndData) {
  EXPECT_EQ(EncodeSseEvent("e-1", "greet", "hi"), "id: e-1\nevent: greet\ndata: hi\n\n");
  EXPECT_EQ(EncodeSseEvent("e-1", "", "hi"), "id: e-1\ndata: hi\n\n");
}

TEST(SseFormatTest, OneDataLinePerLineForEveryLineBreakKind) {
  EXPECT_EQ(EncodeSseEvent("e-1", "", "a\nb\rc\r\nd"),
            "id: e-1\ndata: a\ndata: b\ndata: c\ndata: d\n\n");
  EXPECT_EQ(EncodeSseEvent("e-1", "", ""), "id: e-1\ndata: \n\n");
  EXPECT_EQ(EncodeSseEvent("e-1", "", "\n"), "id: e-1\ndata: \ndata: \n\n");
}

TEST(SseFormatTest, ParserReadsBackWhatWasPublished) {
  const std::vector<std::string> samples = {"plain",
                                            "",
                                            "two\nlines",
                                            "cr\ronly",
                                            "crlf\r\nend",
                                            "trailing\n",
                                            "\n\nleading",
                                            " leading space",
                                            ": looks like a comment",
                                            "data: nested",
                                            "\xe4\xbd\xa0\xe5\xa5\xbd \xf0\x9f\x98\x80"};
  for (const std::string& data : samples) {
    std::string expected = data;
    // A WHATWG parser reads every line break back as LF.
    for (size_t pos; (pos = expected.find("\r\n")) != std::string::npos;)
      expected.replace(pos, 2, "\n");
    for (char& c : expected)
      if (c == '\r') c = '\n';
    auto events = Parse(EncodeSseEvent("e-7", "kind", data));
    ASSERT_EQ(events.size(), 1u) << data;
    EXPECT_EQ(events[0].data, expected);
    EXPECT_EQ(events[0].type, "kind");
    EXPECT_EQ(events[0].last_event_id, "e-7");
  }
}

TEST(SseFormatTest, FieldsCannotBreakOutOfTheirLine) {
  auto events = Parse(EncodeSseEvent("e-1\nevent: forged", "x\r\ndata: forged", "real"));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type, "x");
  EXPECT_EQ(events[0].data, "real");
  EXPECT_EQ(events[0].last_event_id, "e-1");
}

TEST(SseFormatTest, RetryCommentAndChunks) {
  EXPECT_EQ(EncodeSseRetry(2500), "retry: 2500\n\n");
  EXPECT_EQ(EncodeSseComment("hb"), ": hb\n\n");
  EXPECT_EQ(EncodeChunk("hello"), "5\r\nhello\r\n");
  EXPECT_EQ(EncodeChunk(std::string(26, 'x')).substr(0, 4), "1a\r\n");
  EXPECT_EQ(LastChunk(), "0\r\n\r\n");
  SseParser parser;
  std::vector<SseEvent> events;
  parser.Feed(EncodeSseRetry(2500) + EncodeSseComment("hb"), &events);
  EXPECT_TRUE(events.empty());
  EXPECT_EQ(parser.retry_ms(), 2500u);
  EXPECT_EQ(parser.comments(), 1u);
}

TEST(SseFormatTest, AFrameHeadAndTheSharedFrameMakeTheWholeChunk) {
  for (const auto& [epoch, offset, event, data] :
       std::vector<std::tuple<uint64_t, uint64_t, std::string, std::string>>{
           {0x7, 1, "", "x"},
           {0xffffffffffffffff, UINT64_MAX, "update", std::string(70000, 'y')},
           {0x18d3a4c2b1e, 42, "e", "two\nlines\r\nand\rthree"}}) {
    const std::string frame = EncodeSharedFrame(event, data);
    char head[kMaxFrameHead];
    const size_t head_size = EncodeFrameHead(epoch, offset, frame.size(), head);
    ASSERT_LE(head_size, kMaxFrameHead);
    const std::string id = MessageId{epoch, offset}.ToString();
    EXPECT_EQ(std::string(head, head_size) + frame, EncodeChunk(EncodeSseEvent(id, event, data)))
        << id;
  }
}

}  // namespace
}  // namespace pushbroker
