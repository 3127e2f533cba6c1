/* An example program on the dlc runtime's C API: loads a compiled Quora model and prints the
 * probability that two questions are duplicates.
 *
 *   dlc train examples/quora_siamese/model.fbs --data data/quora/quora_pairs.tsv.gz --out q.fbs
 *   dlc compile q.fbs --batch 1 -o q.dlc
 *   predict_pairs q.dlc "How do I learn physics?" "What is the best way to learn physics?"
 */
#include <stdio.h>

#include "runtime/dlc_c_api.h"

int main(int argc, char** argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s MODEL.dlc \"question one\" \"question two\"\n", argv[0]);
    return 2;
  }
  dlc_model* model = dlc_model_load(argv[1]);
  if (!model) {
    fprintf(stderr, "predict_pairs: %s\n", dlc_last_error());
    return 1;
  }
  const char* first[] = {argv[2]};
  const char* second[] = {argv[3]};
  float probability = 0;
  int status = dlc_model_predict_pairs(model, first, second, 1, &probability);
  if (status == 0) printf("%.6f\n", probability);
  else fprintf(stderr, "predict_pairs: %s\n", dlc_last_error());
  dlc_model_free(model);
  return status == 0 ? 0 : 1;
}
