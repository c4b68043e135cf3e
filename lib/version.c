/* Runtime version queries. */
#include "mmoe/version.h"

#define MMOE_STR_(x) #x
#define MMOE_STR(x) MMOE_STR_(x)

unsigned mmoe_version(void)
{
    return MMOE_VERSION_HEX;
}

const char *mmoe_version_string(void)
{
    return MMOE_STR(MMOE_VERSION_MAJOR) "." MMOE_STR(MMOE_VERSION_MINOR) "." MMOE_STR(
        MMOE_VERSION_PATCH);
}
