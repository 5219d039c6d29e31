// Anchor translation unit for the precompiled libtorch header (see CMakeLists.txt).
