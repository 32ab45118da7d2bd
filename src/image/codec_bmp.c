/* Windows BMP, read by hand: uncompressed 24- and 32-bit, 8-bit palette,
 * and BI_BITFIELDS only where the masks are the plain byte positions.  RLE
 * and other layouts are refused as unsupported rather than guessed at. */
#include <stdlib.h>
#include <string.h>

#include "base/status.h"
#include "image/image_internal.h"

static uint32_t u16le(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t u32le(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

enum { BI_RGB = 0, BI_RLE8 = 1, BI_RLE4 = 2, BI_BITFIELDS = 3, BI_ALPHABITFIELDS = 6 };

cvm_status cvm_decode_bmp(const uint8_t *d, size_t n, const char *name, const cvm_image_read_options *opts,
                          cvm_image **out)
{
    if (n < 14 + 12)
        return cvm_errorf(CVM_E_PARSE, "%s: corrupt BMP: %zu bytes is too short for the headers", name, n);
    uint32_t data_off = u32le(d + 10);
    uint32_t hsize = u32le(d + 14);
    if (hsize < 12 || hsize > n - 14)
        return cvm_errorf(CVM_E_PARSE, "%s: corrupt BMP: info header size %u does not fit the file", name,
                          (unsigned)hsize);
    const uint8_t *ih = d + 14;
    int64_t w, h;
    uint32_t planes, bpp, comp = BI_RGB, ncolors = 0;
    int core = hsize < 40;
    if (core) {
        /* OS/2 BITMAPCOREHEADER: 16-bit sizes, 3-byte palette entries. */
        w = u16le(ih + 4);
        h = u16le(ih + 6);
        planes = u16le(ih + 8);
        bpp = u16le(ih + 10);
    } else {
        w = (int32_t)u32le(ih + 4);
        h = (int32_t)u32le(ih + 8);
        planes = u16le(ih + 12);
        bpp = u16le(ih + 14);
        comp = u32le(ih + 16);
        ncolors = u32le(ih + 32);
    }
    int top_down = h < 0;
    if (h < 0)
        h = -h;
    if (planes != 1)
        return cvm_errorf(CVM_E_PARSE, "%s: corrupt BMP: %u planes (must be 1)", name, (unsigned)planes);
    if (comp == BI_RLE8 || comp == BI_RLE4)
        return cvm_errorf(CVM_E_UNSUPPORTED, "%s: RLE-compressed BMP is not supported", name);
    if (comp != BI_RGB && comp != BI_BITFIELDS && comp != BI_ALPHABITFIELDS)
        return cvm_errorf(CVM_E_UNSUPPORTED, "%s: BMP compression %u is not supported", name, (unsigned)comp);
    if (bpp != 8 && bpp != 24 && bpp != 32)
        return cvm_errorf(CVM_E_UNSUPPORTED, "%s: %u-bit BMP is not supported (8, 24 and 32 are)", name,
                          (unsigned)bpp);
    int has_alpha = 0;
    if (comp != BI_RGB) {
        /* Masks follow a 40-byte header, or sit inside a V2..V5 header. */
        if (bpp != 32)
            return cvm_errorf(CVM_E_UNSUPPORTED, "%s: BI_BITFIELDS with %u bits per pixel is not supported", name,
                              (unsigned)bpp);
        size_t nmask = comp == BI_ALPHABITFIELDS ? 4 : 3;
        if (hsize >= 56)
            nmask = 4;
        if (40 + 4 * nmask > n - 14)
            return cvm_errorf(CVM_E_PARSE, "%s: corrupt BMP: bit masks run past the end", name);
        uint32_t rm = u32le(ih + 40), gm = u32le(ih + 44), bm = u32le(ih + 48);
        uint32_t am = nmask == 4 ? u32le(ih + 52) : 0;
        if (rm != 0x00ff0000u || gm != 0x0000ff00u || bm != 0x000000ffu || (am != 0 && am != 0xff000000u))
            return cvm_errorf(CVM_E_UNSUPPORTED,
                              "%s: BMP bit masks %08x/%08x/%08x/%08x are not the plain BGRA layout", name,
                              (unsigned)rm, (unsigned)gm, (unsigned)bm, (unsigned)am);
        has_alpha = am != 0;
    }
    CVM_TRY(cvm_image_check_size(name, "BMP", w, h, opts->max_pixels));

    uint8_t palette[256][3];
    memset(palette, 0, sizeof palette);
    if (bpp == 8) {
        size_t entry = core ? 3 : 4;
        size_t count = ncolors ? ncolors : 256;
        if (count > 256)
            return cvm_errorf(CVM_E_PARSE, "%s: corrupt BMP: %u palette colours (at most 256)", name,
                              (unsigned)ncolors);
        size_t pal_off = 14 + (size_t)hsize;
        if (comp == BI_BITFIELDS && hsize == 40)
            pal_off += 12;
        if (pal_off > n || (n - pal_off) / entry < count)
            return cvm_errorf(CVM_E_PARSE, "%s: corrupt BMP: palette runs past the end of the file", name);
        for (size_t i = 0; i < count; i++) {
            const uint8_t *p = d + pal_off + i * entry;
            palette[i][0] = p[2], palette[i][1] = p[1], palette[i][2] = p[0];
        }
    }
    size_t rowbytes = (((size_t)w * bpp + 31) / 32) * 4;
    if (data_off > n || (n - data_off) / rowbytes < (size_t)h)
        return cvm_errorf(CVM_E_PARSE, "%s: corrupt BMP: pixel data (%zu rows of %zu bytes at offset %u) "
                          "runs past the end of the %zu-byte file", name, (size_t)h, rowbytes,
                          (unsigned)data_off, n);
    cvm_image *img = NULL;
    CVM_TRY(cvm_image_alloc((int)w, (int)h, opts->format, 0, &img));
    uint8_t *tmp = malloc((size_t)w * 4);
    if (!tmp) {
        cvm_image_free(img);
        return cvm_errorf(CVM_E_NOMEM, "%s: out of memory for a BMP row", name);
    }
    for (int64_t y = 0; y < h; y++) {
        const uint8_t *s = d + data_off + (size_t)(top_down ? y : h - 1 - y) * rowbytes;
        uint8_t *dst = img->pixels + (size_t)y * img->stride;
        if (bpp == 24) {
            cvm_image_convert_row(s, CVM_SRC_BGR, dst, opts->format, (int)w);
        } else if (bpp == 32) {
            if (has_alpha) {
                cvm_image_convert_row(s, CVM_SRC_BGRA, dst, opts->format, (int)w);
            } else {
                /* The fourth byte of a plain 32-bit BMP is padding. */
                for (int64_t x = 0; x < w; x++) {
                    tmp[3 * x] = s[4 * x];
                    tmp[3 * x + 1] = s[4 * x + 1];
                    tmp[3 * x + 2] = s[4 * x + 2];
                }
                cvm_image_convert_row(tmp, CVM_SRC_BGR, dst, opts->format, (int)w);
            }
        } else {
            for (int64_t x = 0; x < w; x++)
                memcpy(tmp + 3 * x, palette[s[x]], 3);
            cvm_image_convert_row(tmp, CVM_SRC_RGB, dst, opts->format, (int)w);
        }
    }
    free(tmp);
    *out = img;
    return CVM_OK;
}
