# Writes a C++ source defining `const char* fracture_default_config_yaml()` with the text of IN.
# Splits into chunks so no single string literal exceeds compiler limits.
file(READ ${IN} TEXT)
string(LENGTH "${TEXT}" LEN)
set(BODY "")
set(POS 0)
while(POS LESS LEN)
  string(SUBSTRING "${TEXT}" ${POS} 4000 CHUNK)
  string(APPEND BODY "R\"fracture_embed(${CHUNK})fracture_embed\"\n")
  math(EXPR POS "${POS} + 4000")
endwhile()
file(WRITE ${OUT}.tmp "// Generated from ${IN}; do not edit.\nnamespace fracture {\nconst char* default_config_yaml() {\n  static const char* text =\n${BODY};\n  return text;\n}\n}  // namespace fracture\n")
file(RENAME ${OUT}.tmp ${OUT})
