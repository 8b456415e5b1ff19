package main

import (
	_ "github.com/expr-lang/expr"
	_ "github.com/go-sql-driver/mysql"
	_ "github.com/hashicorp/go-plugin"
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "github.com/nyaruka/phonenumbers"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/prometheus/client_golang/prometheus/promhttp"
	_ "github.com/segmentio/kafka-go"
	_ "github.com/shopspring/decimal"
	_ "github.com/spf13/cobra"
	_ "github.com/twmb/franz-go/pkg/kfake"
	_ "github.com/xeipuuv/gojsonschema"
	_ "golang.org/x/oauth2/clientcredentials"
	_ "golang.org/x/text/encoding/charmap"
	_ "golang.org/x/time/rate"
	_ "google.golang.org/grpc"
	_ "gopkg.in/yaml.v3"
	_ "modernc.org/sqlite"
	_ "github.com/adrg/strutil"
)

func main() {}
