/* libFuzzer entry: every codec behind cvm_image_decode, with EXIF handling
 * on and a 4 Mpx ceiling: hostile headers cannot ask for more, and the
 * fuzzer spends its time parsing rather than decoding legal 16 Mpx images
 * (tiny JPEGs that decode to 14 Mpx took 2 s each in this instrumented
 * build, ~0.2 s in a release build). */
#include <stddef.h>
#include <stdint.h>

#include "cvm/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cvm_image_read_options o;
    cvm_image_read_options_init(&o);
    o.max_pixels = 4 * 1000 * 1000;
    /* The last byte picks the output layout so that every conversion runs. */
    o.format = (cvm_pixel_format)(size ? data[size - 1] % 4 : 0);
    o.apply_exif_orientation = 1;
    cvm_image *img = NULL;
    if (cvm_image_decode(data, size, &o, &img) == CVM_OK) {
        cvm_image_view v;
        cvm_image_get_view(img, &v);
        /* Touch the first and last row so that a short buffer shows. */
        volatile uint8_t sink = v.pixels[0];
        sink = v.pixels[(size_t)(v.height - 1) * v.stride + (size_t)v.width * (size_t)v.channels - 1];
        (void)sink;
    }
    cvm_image_free(img);
    return 0;
}
