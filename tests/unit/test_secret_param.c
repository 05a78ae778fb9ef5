/* test_secret_param.c: the secret-parameter predicate (core/acs_secret_param.h):
 * common and vendor spellings, things that merely look like secrets, and
 * every parameter the Broadband Forum data models (../shared/data/datamodels,
 * read at test time; that part is skipped, saying so, when absent) mark
 * secured or hidden. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "acs_test.h"
#include "core/acs_secret_param.h"

static bool secret(const char *name) { return acs_param_is_secret_z(name); }

static void test_spellings(void) {
  static const char *const yes[] = {
      "Device.ManagementServer.Password",
      "Device.ManagementServer.ConnectionRequestPassword",
      "Device.ManagementServer.STUNPassword",
      "InternetGatewayDevice.ManagementServer.ConnectionRequestPassword",
      "Device.WiFi.AccessPoint.1.Security.KeyPassphrase",
      "Device.WiFi.AccessPoint.12.Security.PreSharedKey",
      "Device.WiFi.AccessPoint.1.Security.WEPKey",
      "Device.WiFi.AccessPoint.1.Security.SAEPassphrase",
      "Device.WiFi.AccessPoint.1.Security.RadiusSecret",
      "Device.WiFi.AccessPoint.1.WPS.PIN",
      "InternetGatewayDevice.LANDevice.1.WLANConfiguration.1.PreSharedKey.1.KeyPassphrase",
      "InternetGatewayDevice.LANDevice.1.WLANConfiguration.1.WEPKey.3.WEPKey",
      "InternetGatewayDevice.WANDevice.1.WANConnectionDevice.1.WANPPPConnection.1.Password",
      "Device.PPP.Interface.1.Password",
      "Device.Users.User.2.Password",
      "Device.Routing.Babel.MACKeySet.1.MACKey.1.KeyValue",
      "Device.Routing.Babel.DTLSCertSet.1.DTLSCert.1.CertPrivateKey",
      "Device.USPAgent.ControllerTrust.Challenge.4.Value",
      /* vendor spellings */
      "InternetGatewayDevice.LANDevice.1.WLANConfiguration.1.X_TP_PreSharedKey",
      "InternetGatewayDevice.X_HUAWEI_WebUserInfo.1.X_HUAWEI_Password",
      "InternetGatewayDevice.LANDevice.1.WLANConfiguration.1.X_BROADCOM_COM_WlanPassword",
      "Device.X_ZYXEL_Login.1.X_ZYXEL_Passwd",
      "Device.WiFi.AccessPoint.1.Security.X_ACME_WPAKey",
      "Device.WiFi.AccessPoint.1.Security.X_ACME_WPAPSK",
      "Device.X_ACME_Cloud.ClientSecret",
      "Device.X_ACME_Cloud.X_ACME_PrivateKey",
      "Device.Users.User.1.X_ACME_PasswordHash",
      "Device.Users.User.1.PASSWORD",
      "Device.Users.User.1.password",
      "Password",
      "X.KEYPASSPHRASE",
  };
  for (size_t i = 0; i < sizeof yes / sizeof *yes; i++) {
    if (!secret(yes[i])) fprintf(stderr, "not a secret: %s\n", yes[i]);
    CHECK(secret(yes[i]));
  }
  static const char *const no[] = {
      "Device.ManagementServer.Username",
      "Device.ManagementServer.ConnectionRequestUsername",
      "Device.ManagementServer.ConnectionRequestURL",
      "Device.ManagementServer.ParameterKey",
      "Device.WiFi.SSID.1.SSID",
      "Device.WiFi.AccessPoint.1.Security.ModeEnabled",
      "Device.WiFi.AccessPoint.1.Security.RekeyingInterval",
      "Device.WiFi.AccessPoint.1.Security.Reset",
      "Device.UPA.Interface.1.EncryptionKeyLength",
      "Device.Cellular.Interface.1.USIM.PINCheck",
      "Device.Users.User.1.PasswordRequired",
      "Device.UserInterface.PasswordReset",
      "Device.UserInterface.PasswordUserSelectable",
      "Device.SSH.Server.1.AllowPasswordLogin",
      "Device.XPON.ONU.1.ANI.1.TC.Authentication.HexadecimalPassword",
      "InternetGatewayDevice.UserInterface.SharedPassword",
      "Device.WiFi.AccessPoint.1.AC.1.Stats.TotalPSKFailures",
      "Device.USPAgent.ControllerTrust.Challenge.4.Alias",
      "Device.X_ACME.Value",
      "Device.X_ACME.Challenge.1.Value",
      "Device.X_ACME.Pin",
      "Device.ManagementServer.",
      "Device.Users.User.1.Password.",
      "Device.WiFi.AccessPoint.1.Security.",
      "",
  };
  for (size_t i = 0; i < sizeof no / sizeof *no; i++) {
    if (secret(no[i])) fprintf(stderr, "a secret: %s\n", no[i]);
    CHECK(!secret(no[i]));
  }
  CHECK(!secret(NULL));
  /* the length counts, not a NUL */
  const char *pw = "Device.ManagementServer.PasswordRequired";
  CHECK(acs_param_is_secret(pw, strlen("Device.ManagementServer.Password")));
  CHECK(!acs_param_is_secret(pw, strlen(pw)));
  /* instance numbers in tails: digits only */
  CHECK(!secret("Device.USPAgent.ControllerTrust.Challenge.x.Value"));
  CHECK(!secret("Device.USPAgent.ControllerTrust.Challenge..Value"));
  /* "hidden" write-only triggers are no secrets (read back empty anyway) */
  CHECK(!secret("Device.PeriodicStatistics.SampleSet.7.ForceSample"));
  CHECK(!secret("Device.DeviceInfo.TemperatureStatus.TemperatureSensor.1.Reset"));
}

/* --- the data models */

static bool attr_true(xmlNodePtr n, const char *name) {
  xmlChar *v = xmlGetProp(n, (const xmlChar *)name);
  bool t = v && strcmp((const char *)v, "true") == 0;
  xmlFree(v);
  return t;
}

static bool is(xmlNodePtr n, const char *name) {
  return n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0;
}

/* name with every "{i}" replaced by an instance number. */
static void instantiate(const char *in, char *out, size_t size) {
  size_t o = 0;
  for (const char *p = in; *p && o + 4 < size;) {
    if (strncmp(p, "{i}", 3) == 0) {
      out[o++] = '4';
      out[o++] = '2';
      p += 3;
    } else {
      out[o++] = *p++;
    }
  }
  out[o] = '\0';
}

static int model_counts[2]; /* marked secured, of which covered */

static void check_model_file(const char *path) {
  xmlDocPtr doc = xmlReadFile(path, NULL, XML_PARSE_NONET | XML_PARSE_HUGE);
  CHECK(doc != NULL);
  if (!doc) return;
  int marked = 0, covered = 0, flagged_other = 0;
  for (xmlNodePtr model = xmlDocGetRootElement(doc)->children; model; model = model->next) {
    if (!is(model, "model")) continue;
    for (xmlNodePtr obj = model->children; obj; obj = obj->next) {
      if (!is(obj, "object")) continue;
      xmlChar *oname = xmlGetProp(obj, (const xmlChar *)"name");
      if (!oname) continue;
      for (xmlNodePtr p = obj->children; p; p = p->next) {
        if (!is(p, "parameter")) continue;
        xmlChar *pname = xmlGetProp(p, (const xmlChar *)"name");
        if (!pname) continue;
        bool sec = false;
        for (xmlNodePtr s = p->children; s; s = s->next)
          if (is(s, "syntax") && attr_true(s, "secured")) sec = true;
        char full[1024], inst[1024];
        snprintf(full, sizeof full, "%s%s", (const char *)oname, (const char *)pname);
        instantiate(full, inst, sizeof inst);
        bool pred = secret(inst);
        if (sec) {
          marked++;
          if (pred) {
            covered++;
          } else {
            fprintf(stderr, "%s: marked secured, not a secret: %s\n", path, full);
          }
        } else if (pred) {
          flagged_other++;
          fprintf(stderr, "  (also a secret by name: %s)\n", full);
        }
        CHECK(!sec || pred);
        xmlFree(pname);
      }
      xmlFree(oname);
    }
  }
  fprintf(stderr, "%s: %d parameters marked secured, %d covered; %d more by name\n", path,
          marked, covered, flagged_other);
  model_counts[0] += marked; /* TR-098 marks none "secured" (its passwords: by name) */
  model_counts[1] += covered;
  xmlFreeDoc(doc);
}

static void test_models(void) {
  const char *shared = getenv("ACS_SHARED_DIR");
  static const char *const files[] = {"tr-181-2-17-0-cwmp-full.xml", "tr-098-1-8-0-full.xml"};
  int found = 0;
  for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s/data/datamodels/%s", shared ? shared : "../shared", files[i]);
    if (stat(path, &st) != 0) {
      fprintf(stderr, "skipped: %s is absent (the Broadband Forum data models)\n", path);
      continue;
    }
    found++;
    check_model_file(path);
  }
  if (found) {
    CHECK(model_counts[0] > 0);
    CHECK_INT(model_counts[0], model_counts[1]);
  }
}

int main(void) {
  test_spellings();
  test_models();
  return acs_test_result("test_secret_param");
}
