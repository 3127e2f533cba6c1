// The Quora readers on small files written for each test, in all three shapes the data comes in,
// and on the copy of the real data the repository ships.
#include "runtime/quora_data.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "support/error.h"

#ifndef DLC_SOURCE_DIR
#define DLC_SOURCE_DIR "."
#endif

namespace dlc {
namespace {

const std::string kTsvHeader = "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n";
const std::string kCsvHeader =
    "\"id\",\"qid1\",\"qid2\",\"question1\",\"question2\",\"is_duplicate\"\n";

class QuoraDataTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (std::filesystem::temp_directory_path() / "quora_data_test_XXXXXX");
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    directory_ = pattern;
  }

  void TearDown() override { std::filesystem::remove_all(directory_); }

  /// Writes `contents` to a file named `name` in this test's directory and returns its path.
  std::string writeFile(const std::string& name, const std::string& contents) {
    std::string path = directory_ / name;
    std::ofstream(path, std::ios::binary) << contents;
    return path;
  }

  std::string writeGzipFile(const std::string& name, const std::string& contents) {
    std::string path = directory_ / name;
    gzFile file = gzopen(path.c_str(), "wb9");
    EXPECT_NE(file, nullptr);
    EXPECT_EQ(gzwrite(file, contents.data(), contents.size()), int(contents.size()));
    EXPECT_EQ(gzclose(file), Z_OK);
    return path;
  }

  /// The message of the Error that reading `path` throws, or "" if it throws none.
  static std::string readError(const std::string& path) {
    try {
      readQuoraPairs(path);
    } catch (const Error& error) {
      return error.what();
    }
    return "";
  }

  std::filesystem::path directory_;
};

TEST_F(QuoraDataTest, ReadsTheProjectTsv) {
  std::string path = writeFile("pairs.tsv", kTsvHeader +
                                                "0\t1\t2\tHow do I cook rice?\tRice: how?\t1\n"
                                                "1\t3\t4\tWhat is 2+2?\tIs 4 even?\t0\n");
  QuoraDataset dataset = readQuoraPairs(path);

  ASSERT_EQ(dataset.pairs.size(), 2u);
  EXPECT_EQ(dataset.pairs[0].question1, "How do I cook rice?");
  EXPECT_EQ(dataset.pairs[0].question2, "Rice: how?");
  EXPECT_EQ(dataset.pairs[0].label, 1.0f);
  EXPECT_EQ(dataset.pairs[1].question1, "What is 2+2?");
  EXPECT_EQ(dataset.pairs[1].label, 0.0f);
  EXPECT_EQ(dataset.skippedEmptyQuestion, 0);
  EXPECT_EQ(dataset.skippedBadLabel, 0);
}

TEST_F(QuoraDataTest, ReadsLabelledPairsWithoutAHeader) {
  std::string path = writeFile("talk.tsv",
                               "How do I cook rice?\tRice: how?\t1\n"
                               "What is 2+2?\tIs 4 even?\t0\n"
                               "What is 3+3?\tIs 6 even?\tmaybe\n");
  QuoraDataset dataset = readQuoraPairs(path);

  ASSERT_EQ(dataset.pairs.size(), 2u);
  EXPECT_EQ(dataset.pairs[0].question1, "How do I cook rice?");
  EXPECT_EQ(dataset.pairs[0].label, 1.0f);
  EXPECT_EQ(dataset.pairs[1].question2, "Is 4 even?");
  EXPECT_EQ(dataset.pairs[1].label, 0.0f);
  EXPECT_EQ(dataset.skippedBadLabel, 1);

  // The talk's six pairs, shipped with the example, are such a file.
  QuoraDataset talk =
      readQuoraPairs(std::string(DLC_SOURCE_DIR) + "/examples/quora_siamese/talk_pairs.tsv");
  EXPECT_EQ(talk.pairs.size(), 6u);
  EXPECT_EQ(talk.skippedBadLabel + talk.skippedEmptyQuestion, 0);
}

TEST_F(QuoraDataTest, KeepsLiteralQuotesInTheProjectTsv) {
  // A question may start with a quote that closes mid-question or never: both are literal. The
  // unclosed one must not swallow the next rows up to the next quote before a TAB.
  std::string path = writeFile("pairs.tsv", kTsvHeader +
                                                "0\t1\t2\t\"Hi\" he said?\tWhy \"hi\"?\t1\n"
                                                "1\t3\t4\t\"Why is the sky blue?\tWhy blue?\t1\n"
                                                "2\t5\t6\tIs a pizza of 12\"\tIs it big?\t0\n");
  QuoraDataset dataset = readQuoraPairs(path);

  ASSERT_EQ(dataset.pairs.size(), 3u);
  EXPECT_EQ(dataset.pairs[0].question1, "\"Hi\" he said?");
  EXPECT_EQ(dataset.pairs[0].question2, "Why \"hi\"?");
  EXPECT_EQ(dataset.pairs[1].question1, "\"Why is the sky blue?");
  EXPECT_EQ(dataset.pairs[1].question2, "Why blue?");
  EXPECT_EQ(dataset.pairs[2].question1, "Is a pizza of 12\"");
}

TEST_F(QuoraDataTest, ReadsQuoraReleaseWithQuotedFields) {
  // Quoted fields hold "" for a quote, a TAB and a line break.
  std::string rows =
      "0\t1\t2\t\"What does \"\"hello\"\" mean?\"\tWhat is hello?\t1\n"
      "1\t3\t4\t\"Tab\there\"\t\"First line\nsecond line\"\t0\n"
      "2\t5\t6\tPlain\t\"\"\"Quoted\"\" start\"\t1\n";
  QuoraDataset dataset = readQuoraPairs(writeFile("quora.tsv", kTsvHeader + rows));

  ASSERT_EQ(dataset.pairs.size(), 3u);
  EXPECT_EQ(dataset.pairs[0].question1, "What does \"hello\" mean?");
  EXPECT_EQ(dataset.pairs[1].question1, "Tab\there");
  EXPECT_EQ(dataset.pairs[1].question2, "First line\nsecond line");
  EXPECT_EQ(dataset.pairs[1].label, 0.0f);
  EXPECT_EQ(dataset.pairs[2].question2, "\"Quoted\" start");

  // Line numbers after a field that spans lines still count every line.
  std::string badPath = writeFile("bad.tsv", kTsvHeader + rows + "3\t7\t8\tfour fields\n");
  std::string message = readError(badPath);
  EXPECT_NE(message.find("bad.tsv:6: expected 6 fields"), std::string::npos) << message;
}

TEST_F(QuoraDataTest, ReadsKaggleCsv) {
  std::string path = writeFile(
      "train.csv", kCsvHeader +
                       "\"0\",\"1\",\"2\",\"Why, oh why?\",\"Why not, then?\",\"0\"\n"
                       "\"1\",\"3\",\"4\",\"Say \"\"yes\"\", ok?\",\"Line one\nline two\",\"1\"\n"
                       "\"2\",\"5\",\"6\",\"\",\"Is this empty?\",\"0\"\n"
                       "\"3\",\"7\",\"8\",\"Fine?\",\"   \",\"1\"\n"
                       "\"4\",\"9\",\"10\",\"Good?\",\"Fine.\",\"1\"\n");
  QuoraDataset dataset = readQuoraPairs(path);

  ASSERT_EQ(dataset.pairs.size(), 3u);
  EXPECT_EQ(dataset.pairs[0].question1, "Why, oh why?");
  EXPECT_EQ(dataset.pairs[0].question2, "Why not, then?");
  EXPECT_EQ(dataset.pairs[1].question1, "Say \"yes\", ok?");
  EXPECT_EQ(dataset.pairs[1].question2, "Line one\nline two");
  EXPECT_EQ(dataset.pairs[1].label, 1.0f);
  EXPECT_EQ(dataset.pairs[2].question1, "Good?");
  EXPECT_EQ(dataset.skippedEmptyQuestion, 2);
}

TEST_F(QuoraDataTest, FindsColumnsByNameInAnyOrder) {
  std::string path = writeFile("reordered.csv",
                               "is_duplicate,question2,extra,question1\n"
                               "1,Second?,x,First?\n");
  QuoraDataset dataset = readQuoraPairs(path);

  ASSERT_EQ(dataset.pairs.size(), 1u);
  EXPECT_EQ(dataset.pairs[0].question1, "First?");
  EXPECT_EQ(dataset.pairs[0].question2, "Second?");
  EXPECT_EQ(dataset.pairs[0].label, 1.0f);
}

TEST_F(QuoraDataTest, AcceptsFloatLabelsAndCountsBadOnes) {
  std::string path = writeFile("labels.tsv", kTsvHeader +
                                                 "0\t1\t2\tA?\tB?\t1.0\n"
                                                 "1\t3\t4\tC?\tD?\t0.0\n"
                                                 "2\t5\t6\tE?\tF?\t2\n"
                                                 "3\t7\t8\tG?\tH?\t\n"
                                                 "4\t9\t10\tI?\tJ?\tyes\n");
  QuoraDataset dataset = readQuoraPairs(path);

  ASSERT_EQ(dataset.pairs.size(), 2u);
  EXPECT_EQ(dataset.pairs[0].label, 1.0f);
  EXPECT_EQ(dataset.pairs[1].label, 0.0f);
  EXPECT_EQ(dataset.skippedBadLabel, 3);
  EXPECT_EQ(dataset.skippedEmptyQuestion, 0);
}

TEST_F(QuoraDataTest, AcceptsCrlfLineEnds) {
  std::string path =
      writeFile("crlf.csv",
                "\"id\",\"qid1\",\"qid2\",\"question1\",\"question2\",\"is_duplicate\"\r\n"
                "\"0\",\"1\",\"2\",\"Quoted?\",\"Yes\",\"1\"\r\n"
                "1,3,4,Unquoted?,Also,0\r\n"
                "\r\n");
  QuoraDataset dataset = readQuoraPairs(path);

  ASSERT_EQ(dataset.pairs.size(), 2u);
  EXPECT_EQ(dataset.pairs[0].question2, "Yes");
  EXPECT_EQ(dataset.pairs[0].label, 1.0f);
  EXPECT_EQ(dataset.pairs[1].question2, "Also");
  EXPECT_EQ(dataset.pairs[1].label, 0.0f);

  std::string tsvPath = writeFile("crlf.tsv",
                                  "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\r\n"
                                  "0\t1\t2\tOne?\tTwo?\t1\r\n");
  QuoraDataset tsv = readQuoraPairs(tsvPath);
  ASSERT_EQ(tsv.pairs.size(), 1u);
  EXPECT_EQ(tsv.pairs[0].question2, "Two?");
  EXPECT_EQ(tsv.pairs[0].label, 1.0f);
}

TEST_F(QuoraDataTest, ReadsGzipTransparently) {
  std::string path =
      writeGzipFile("pairs.tsv.gz", kTsvHeader + "0\t1\t2\tCompressed?\tYes, it is.\t1\n");
  QuoraDataset dataset = readQuoraPairs(path);

  ASSERT_EQ(dataset.pairs.size(), 1u);
  EXPECT_EQ(dataset.pairs[0].question1, "Compressed?");
}

TEST_F(QuoraDataTest, NamesTheLineOfARowWithTheWrongFieldCount) {
  std::string path = writeFile("short.tsv", kTsvHeader +
                                                "0\t1\t2\tA?\tB?\t1\n"
                                                "\n"
                                                "1\t3\t4\tC?\t0\n");
  std::string message = readError(path);
  EXPECT_NE(message.find("short.tsv:4: expected 6 fields like the header, found 5"),
            std::string::npos)
      << message;
}

TEST_F(QuoraDataTest, RejectsAHeaderWithoutTheColumns) {
  std::string path = writeFile("header.tsv", "id\tsentence1\tsentence2\tis_duplicate\n");
  std::string message = readError(path);
  EXPECT_NE(message.find("header.tsv:1: expected a header"), std::string::npos) << message;
  EXPECT_NE(message.find("missing: question1 question2"), std::string::npos) << message;

  std::string emptyPath = writeFile("empty.tsv", "");
  EXPECT_NE(readError(emptyPath).find("empty.tsv:1: expected a header"), std::string::npos);
}

TEST_F(QuoraDataTest, RejectsAnUnterminatedQuote) {
  std::string path = writeFile("open.csv", kCsvHeader +
                                               "\"0\",\"1\",\"2\",\"A?\",\"B?\",\"1\"\n"
                                               "\"1\",\"3\",\"4\",\"Never\nclosed,\n");
  std::string message = readError(path);
  EXPECT_NE(message.find("open.csv:3: a quoted field starting on this line is never closed"),
            std::string::npos)
      << message;
}

TEST_F(QuoraDataTest, RejectsAMissingFile) {
  std::string message = readError((directory_ / "no_such_file.tsv").string());
  EXPECT_NE(message.find("no_such_file.tsv: cannot open"), std::string::npos) << message;
  EXPECT_THROW(readPairsToPredict((directory_ / "no_such_file.tsv").string()), Error);
}

TEST_F(QuoraDataTest, RejectsTruncatedGzip) {
  std::string compressedPath = writeGzipFile("whole.tsv.gz", kTsvHeader + "0\t1\t2\tA?\tB?\t1\n");
  std::ifstream compressed(compressedPath, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(compressed)), std::istreambuf_iterator<char>());
  std::string path = writeFile("cut.tsv.gz", bytes.substr(0, bytes.size() / 2));

  EXPECT_NE(readError(path).find("cut.tsv.gz: cannot read"), std::string::npos);
}

TEST_F(QuoraDataTest, NamesAGzipFileWithABadHeaderOnce) {
  std::string path = writeFile("bad.tsv.gz", "\x1f\x8b garbage");
  EXPECT_EQ(readError(path), path + ": cannot read: unknown compression method");
}

TEST_F(QuoraDataTest, ReadsPairsToPredict) {
  std::string path = writeFile("ask.tsv",
                               "question1\tquestion2\n"
                               "Is it \"raining\"?\tWill it rain?\n"
                               "First?\tSecond?\t1\r\n"
                               "Last?\tNo newline");
  auto pairs = readPairsToPredict(path);

  ASSERT_EQ(pairs.size(), 3u);
  using Pair = std::pair<std::string, std::string>;
  EXPECT_EQ(pairs[0], Pair("Is it \"raining\"?", "Will it rain?"));
  EXPECT_EQ(pairs[1], Pair("First?", "Second?"));
  EXPECT_EQ(pairs[2], Pair("Last?", "No newline"));

  // Blank lines at the end answer nothing and shift nothing.
  EXPECT_EQ(readPairsToPredict(writeFile("end.tsv", "A?\tB?\n\n \r\n")).size(), 1u);
}

TEST_F(QuoraDataTest, RefusesPairsToPredictThatWouldNotLineUpWithTheAnswers) {
  struct Case {
    std::string text, expected;
  };
  for (const Case& bad : std::vector<Case>{
           {"A?\tB?\nno tab here\n",
            "bad.tsv:2: expected question1<TAB>question2 (and perhaps "
            "<TAB>0 or 1, a label), found 1 field"},
           {"A?\tB?\n\r\nC?\tD?\n", "bad.tsv:2: the line is empty"},
           {"A?\tB?\tC?\n", "bad.tsv:1: the third field is a label, 0 or 1, got \"C?\""},
           {"A?\tB?\t7\n", "bad.tsv:1: the third field is a label, 0 or 1, got \"7\""},
           {"id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n0\t1\t2\tA?\tB?\t0\n",
            "bad.tsv:1: expected question1<TAB>question2 (and perhaps <TAB>0 or 1, a label), "
            "found 6 fields (dlc evaluate reads files of labelled pairs)"},
           {"A?\tB?\nquestion1\tquestion2\tis_duplicate\n",
            "bad.tsv:2: the third field is a label, 0 or 1, got \"is_duplicate\""},
       }) {
    std::string path = writeFile("bad.tsv", bad.text);
    try {
      readPairsToPredict(path);
      ADD_FAILURE() << "expected an Error for " << bad.text;
    } catch (const Error& error) {
      EXPECT_NE(std::string(error.what()).find(bad.expected), std::string::npos) << error.what();
    }
  }
}

TEST(QuoraShippedDataTest, ReadsTheRepositoryCopy) {
  std::string path = std::string(DLC_SOURCE_DIR) + "/data/quora/quora_pairs.tsv.gz";
  QuoraDataset dataset = readQuoraPairs(path);

  ASSERT_EQ(dataset.pairs.size(), 30000u);
  EXPECT_EQ(dataset.skippedEmptyQuestion, 0);
  EXPECT_EQ(dataset.skippedBadLabel, 0);

  double duplicates = 0;
  for (const QuestionPair& pair : dataset.pairs) duplicates += pair.label;
  EXPECT_NEAR(duplicates / dataset.pairs.size(), 0.368, 0.001);

  // A question that starts with a quote never closed on its line (row id 5735) stays literal.
  bool foundUnclosedQuote = false;
  for (const QuestionPair& pair : dataset.pairs) {
    if (pair.question1 == "\"How do I get rid of acne and acne\u2026?") foundUnclosedQuote = true;
  }
  EXPECT_TRUE(foundUnclosedQuote);
}

}  // namespace
}  // namespace dlc
