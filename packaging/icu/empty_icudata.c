/* An ICU data library that holds no data. netmem's Linux bundle puts it in place of PySide6's libicudata
 * (30 MiB): Qt's core links ICU, but netmem uses none of the features that need ICU's data (collation,
 * legacy text encodings, locale and time-zone display names); where Qt asks, ICU answers "missing data" and Qt
 * uses its own code. docs/install.md says what was checked and how to build the bundle with the full data.
 *
 * ICU finds its data through one symbol, icudtNN_dat (NN: ICU's major version), which libicuuc imports from
 * libicudata.so.NN. The symbol holds a data header and a table of contents, here one with no entries. The layout
 * is ICU's "common data" format (ICU's source: common/udatamem.h and common/ucmndata.h).
 * Build: cc -shared -fPIC -s -DICU_DATA_SYMBOL=icudt73_dat -Wl,-soname,libicudata.so.73 -o libicudata.so.73 empty_icudata.c
 */
#include <stdint.h>

#ifndef ICU_DATA_SYMBOL
#error "define ICU_DATA_SYMBOL, e.g. -DICU_DATA_SYMBOL=icudt73_dat"
#endif

struct icu_empty_common_data {
    uint16_t header_size;      /* bytes up to the table of contents */
    uint8_t magic1, magic2;    /* 0xda 0x27: ICU data */
    uint16_t info_size;        /* the data info that follows: 20 bytes */
    uint16_t info_reserved;
    uint8_t big_endian, charset_family, uchar_size, reserved_byte;
    uint8_t data_format[4];    /* "ToCP": a table of contents of named items */
    uint8_t format_version[4];
    uint8_t data_version[4];
    uint8_t padding[8];
    uint32_t item_count;       /* no items */
    uint32_t unused;
};

__attribute__((visibility("default"))) const struct icu_empty_common_data ICU_DATA_SYMBOL = {
    .header_size = 32,
    .magic1 = 0xda, .magic2 = 0x27,
    .info_size = 20,
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    .big_endian = 1,
#endif
    .charset_family = 0,       /* ASCII */
    .uchar_size = 2,
    .data_format = {'T', 'o', 'C', 'P'},
    .format_version = {1, 0, 0, 0},
    .item_count = 0,
};
