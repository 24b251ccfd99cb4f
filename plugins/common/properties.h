// SPDX-License-Identifier: LGPL-2.1-or-later
//
// String properties that elements keep as std::string: setting NULL stores
// "", and an empty setting reads back as NULL where the property has no
// default ("unset").
#pragma once

#include <glib-object.h>

#include <string>

static inline std::string rip_value_string(const GValue* value) {
  const gchar* v = g_value_get_string(value);
  return v ? v : "";
}

static inline const gchar* rip_string_or_null(const std::string& v) {
  return v.empty() ? nullptr : v.c_str();
}
