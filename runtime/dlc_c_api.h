/* The dlc runtime's C API: load a compiled graph (`dlc compile -o model.dlc`) and run it, from C
 * or any language that calls C. Every call that can fail returns 0 on success and -1 on failure,
 * and then dlc_last_error() says why. A model handle is not safe to use from two threads at
 * once. */
#ifndef DLC_C_API_H
#define DLC_C_API_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dlc_model dlc_model;

/** The message of the last failure on this thread ("" if none). */
const char* dlc_last_error(void);

/** Loads a compiled graph; NULL on failure. */
dlc_model* dlc_model_load(const char* path);
void dlc_model_free(dlc_model* model);

/** The batch size the graph was compiled for. */
int64_t dlc_model_batch_size(const dlc_model* model);

/** Binds an input (copied): `count` must be its number of elements. */
int dlc_model_set_input_i32(dlc_model* model, const char* name, const int32_t* data, size_t count);
int dlc_model_set_input_f32(dlc_model* model, const char* name, const float* data, size_t count);

/** Runs the graph on the bound inputs. */
int dlc_model_run(dlc_model* model);

/** Copies an output of the last run into `data` (`count` elements). */
int dlc_model_get_output_f32(const dlc_model* model, const char* name, float* data, size_t count);

/** Probabilities that each of `count` pairs of questions are duplicates, from raw UTF-8 text. */
int dlc_model_predict_pairs(dlc_model* model, const char* const* first, const char* const* second,
                            size_t count, float* probabilities);

#ifdef __cplusplus
}
#endif

#endif /* DLC_C_API_H */
