// The one translation unit holding Boost.Asio's and Beast's compiled parts
// (see CMakeLists.txt).
#include <boost/asio/impl/src.hpp>
#include <boost/beast/src.hpp>
