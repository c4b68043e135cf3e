/*
 * libmmoe - symbol export macro.
 *
 * Every public function is declared with MMOE_API. The library is compiled
 * with hidden visibility by default, so only symbols marked here are part of
 * the shared object's interface.
 */
#ifndef MMOE_EXPORT_H
#define MMOE_EXPORT_H

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32) || defined(__CYGWIN__)
#    if defined(MMOE_BUILDING_DLL)
#        define MMOE_API __declspec(dllexport)
#    elif defined(MMOE_STATIC)
#        define MMOE_API
#    else
#        define MMOE_API __declspec(dllimport)
#    endif
#elif defined(__GNUC__) && __GNUC__ >= 4
#    define MMOE_API __attribute__((visibility("default")))
#else
#    define MMOE_API
#endif

#ifdef __cplusplus
}
#endif

#endif /* MMOE_EXPORT_H */
