/* Contrast-limited adaptive histogram equalisation as the reference's
 * "Adaptive Equalization" contrast mode computes it: scikit-image
 * equalize_adapthist(img / 255, clip_limit) * 255 cast to uint8, on the HSV
 * value channel of a 3-channel image, with its float32 arithmetic. */
#ifndef CVM_VISION_CLAHE_H
#define CVM_VISION_CLAHE_H

#include <stdint.h>

#include "base/status.h"

/* Equalises a packed 3-channel 8-bit image in place.  order[k] is the byte
 * offset, within a pixel, of the channel the reference treats as its k-th
 * (R, G, B of its HSV conversion): {2, 1, 0} for an RGB buffer whose
 * reference array was BGR.  clip_limit as skimage's (0.03 in the reference;
 * <= 0 disables clipping). */
cvm_status cvm_clahe_u8(uint8_t *px, int width, int height, const int order[3], double clip_limit);

#endif
