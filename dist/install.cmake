# Install-time part of dist/CMakeLists.txt: runs inside `cmake --install`
# (and CPack's staging install), where CMAKE_INSTALL_PREFIX is the prefix
# actually installed to. file(INSTALL) adds DESTDIR and records each file in
# install_manifest.txt.
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(sysconfdir /etc)
else()
  set(sysconfdir ${CMAKE_INSTALL_PREFIX}/etc)
endif()
set(XDPGW_SBINDIR ${CMAKE_INSTALL_PREFIX}/sbin)
set(XDPGW_CONFDIR ${sysconfdir}/xdpgw)
set(XDPGW_DOCDIR ${CMAKE_INSTALL_PREFIX}/share/doc/xdpgw)

configure_file(${XDPGW_DIST_DIR}/xdpgw@.service.in ${XDPGW_DIST_BINARY_DIR}/xdpgw@.service @ONLY)
file(INSTALL ${XDPGW_DIST_BINARY_DIR}/xdpgw@.service
  DESTINATION ${CMAKE_INSTALL_PREFIX}/lib/systemd/system)
file(INSTALL ${XDPGW_DIST_DIR}/xdpgw.tmpfiles
  DESTINATION ${CMAKE_INSTALL_PREFIX}/lib/tmpfiles.d RENAME xdpgw.conf)

# The examples as starting points in the config directory, unless a file of
# that name is there already: it is the administrator's now.
foreach(f IN LISTS XDPGW_EXAMPLE_CONFIGS)
  get_filename_component(name ${f} NAME)
  if(EXISTS "$ENV{DESTDIR}${XDPGW_CONFDIR}/${name}")
    message(STATUS "Kept existing: $ENV{DESTDIR}${XDPGW_CONFDIR}/${name}")
  else()
    file(INSTALL ${f} DESTINATION ${XDPGW_CONFDIR})
  endif()
endforeach()
