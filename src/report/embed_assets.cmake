# Writes a C++ header holding the HTML report's CSS and JS (src/report/assets) as raw string literals,
# so the page ships inside the transfix binary and the assets stay ordinary files to edit and lint.
# Usage: cmake -DOUT=header.h -DCSS=report.css -DJS=report.js -P embed_assets.cmake
file(READ ${CSS} css)
file(READ ${JS} js)
foreach(text css js)
  string(FIND "${${text}}" ")tfx_asset\"" clash)
  if(NOT clash EQUAL -1)
    message(FATAL_ERROR "${text} contains the raw-string delimiter )tfx_asset\"")
  endif()
endforeach()
file(WRITE ${OUT}.tmp "// Generated from src/report/assets by src/report/embed_assets.cmake: do not edit.\n#pragma once\n"
  "inline constexpr const char kReportCss[] = R\"tfx_asset(${css})tfx_asset\";\n"
  "inline constexpr const char kReportJs[] = R\"tfx_asset(${js})tfx_asset\";\n")
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)
file(REMOVE ${OUT}.tmp)
