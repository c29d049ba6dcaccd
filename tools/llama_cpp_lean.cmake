# Passed to llama-cpp-python's build as CMAKE_PROJECT_INCLUDE (Makefile): run after every project() call.
# llama-cpp-python forces llama.cpp's `common` library on (a cache variable), yet its wheel neither ships nor loads it:
# the Python package talks to libllama and libggml through ctypes. common (with its HTTP client) is ~60% of the
# compile on 2 cores, so for llama.cpp's own project a normal variable shadows that cache entry (CMake policy CMP0077:
# option() then keeps the normal variable).
if(PROJECT_NAME STREQUAL "llama.cpp")
    set(LLAMA_BUILD_COMMON OFF)
endif()
