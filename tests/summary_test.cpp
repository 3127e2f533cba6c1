// `dlc summary` on the example model: Keras's table with the parameter counts of issue 2, and
// `--json` with the same figures.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "tests/test_support.h"

namespace dlc {
namespace {

const std::string kExample = testing::sourcePath("examples/quora_siamese/model.fbs");

std::string summaryText() {
  std::string output, errors;
  EXPECT_EQ(testing::runDlc("summary " + kExample, &output, &errors), 0) << errors;
  return output;
}

/// The parameter count in the row of `layer` ("embedding (Embedding)"), or "" if there is no row.
std::string parameterColumn(const std::string& table, const std::string& layer) {
  std::istringstream lines(table);
  std::string line;
  // " name (Type)   Output Shape   Param #   [connections"
  static const std::regex kRow(R"(^ (\S+ \(\w+\)) +(\[?\(.*\)\]?) +([\d,]+) +\[.*$)");
  std::smatch match;
  while (std::getline(lines, line))
    if (std::regex_match(line, match, kRow) && match[1] == layer) return match[3];
  return "";
}

TEST(Summary, PrintsKerasCountsForTheExample) {
  std::string table = summaryText();
  EXPECT_EQ(parameterColumn(table, "input_question1 (InputLayer)"), "0");
  EXPECT_EQ(parameterColumn(table, "input_question2 (InputLayer)"), "0");
  EXPECT_EQ(parameterColumn(table, "embedding (Embedding)"), "6,400,256");
  EXPECT_EQ(parameterColumn(table, "lstm (LSTM)"), "131,584");
  EXPECT_EQ(parameterColumn(table, "dot (Dot)"), "0");
  EXPECT_EQ(parameterColumn(table, "dense (Dense)"), "2");
  EXPECT_NE(table.find("\nTotal params: 6,531,842"), std::string::npos) << table;
  EXPECT_NE(table.find("\nTrainable params: 6,531,842"), std::string::npos) << table;
  EXPECT_NE(table.find("\nNon-trainable params: 0"), std::string::npos) << table;
  EXPECT_NE(table.find("Layer (type)"), std::string::npos);
  EXPECT_NE(table.find("Connected to"), std::string::npos);
}

TEST(Summary, JsonGivesTheSameFigures) {
  std::string output, errors;
  ASSERT_EQ(testing::runDlc("summary --json " + kExample, &output, &errors), 0) << errors;
  nlohmann::json summary = nlohmann::json::parse(output);

  EXPECT_EQ(summary.at("total_params"), 6531842);
  EXPECT_EQ(summary.at("trainable_params"), 6531842);
  EXPECT_EQ(summary.at("non_trainable_params"), 0);
  std::map<std::string, int64_t> expected = {{"input_question1", 0},
                                             {"input_question2", 0},
                                             {"embedding", 6400256},
                                             {"lstm", 131584},
                                             {"dot", 0},
                                             {"dense", 2}};
  ASSERT_EQ(summary.at("layers").size(), expected.size());

  // Every layer of the JSON has the count of its row in the table.
  std::string table = summaryText();
  int64_t total = 0;
  for (const nlohmann::json& layer : summary.at("layers")) {
    std::string name = layer.at("name");
    int64_t params = layer.at("params");
    EXPECT_EQ(params, expected.at(name)) << name;
    total += params;
    std::string row = name + " (" + layer.at("type").get<std::string>() + ")";
    std::string column = parameterColumn(table, row);
    std::erase(column, ',');
    EXPECT_EQ(column, std::to_string(params)) << row;
  }
  EXPECT_EQ(total, summary.at("total_params"));
  EXPECT_EQ(summary.at("layers")[2].at("output_shape"), nlohmann::json::parse("[null, 20, 128]"));
}

}  // namespace
}  // namespace dlc
