#ifndef CFLOAT16_H
#define CFLOAT16_H

#include <stddef.h>
#include <stdint.h>

/// Widens `count` IEEE half-precision values (bit patterns) to float.
void cfloat16_to_float(const uint16_t *src, float *dst, size_t count);

/// Narrows `count` floats to IEEE half precision, rounding to nearest even.
void cfloat16_from_float(const float *src, uint16_t *dst, size_t count);

#endif
