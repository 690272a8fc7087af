// Command goparity evaluates expr-lang and govaluate cases exactly as Argo's libraries do, for
// tests/core/lang/test_go_parity.py. Input: JSON lines {kind: "expr"|"when", src, scope}.
// Output: one JSON line per case {ok, type, json, sprint, err}. The env mirrors Argo's
// util/expr/env (expand on ".", drop less specific keys, asInt/asFloat/toJson/sprig); jsonpath
// is not included (its module is not on the proxy).
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/Knetic/govaluate"
	sprig "github.com/Masterminds/sprig/v3"
	"github.com/expr-lang/expr"
)

type Case struct {
	Kind  string                 `json:"kind"`
	Src   string                 `json:"src"`
	Scope map[string]interface{} `json:"scope"`
}

type Out struct {
	Ok     bool   `json:"ok"`
	Type   string `json:"type"`
	Err    string `json:"err"`
	JSON   string `json:"json"`
	Sprint string `json:"sprint"`
}

func removeConflicts(m map[string]interface{}) map[string]interface{} {
	var keys []string
	n := map[string]interface{}{}
	for k, v := range m {
		keys = append(keys, k)
		n[k] = v
	}
	sort.Strings(keys)
	for i := 0; i < len(keys)-1; i++ {
		k := keys[i]
		if strings.HasPrefix(keys[i+1], k+".") {
			delete(n, k)
		}
	}
	return n
}

func expand(m map[string]interface{}) map[string]interface{} {
	root := map[string]interface{}{}
	for k, v := range removeConflicts(m) {
		parts := strings.Split(k, ".")
		node := root
		for _, p := range parts[:len(parts)-1] {
			nxt, ok := node[p].(map[string]interface{})
			if !ok {
				nxt = map[string]interface{}{}
				node[p] = nxt
			}
			node = nxt
		}
		node[parts[len(parts)-1]] = v
	}
	return root
}

func env(scope map[string]interface{}) map[string]interface{} {
	e := expand(scope)
	e["asInt"] = func(v interface{}) (int, error) {
		switch x := v.(type) {
		case string:
			return strconv.Atoi(x)
		case float64:
			return int(x), nil
		case int:
			return x, nil
		}
		return 0, fmt.Errorf("bad")
	}
	e["asFloat"] = func(v interface{}) (float64, error) {
		switch x := v.(type) {
		case string:
			return strconv.ParseFloat(x, 64)
		case float64:
			return x, nil
		case int:
			return float64(x), nil
		}
		return 0, fmt.Errorf("bad")
	}
	e["toJson"] = func(v interface{}) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	}
	fm := sprig.GenericFuncMap()
	delete(fm, "env")
	delete(fm, "expandenv")
	e["sprig"] = fm
	return e
}

func run(c Case) (out Out) {
	defer func() {
		if r := recover(); r != nil {
			out = Out{Ok: false, Err: fmt.Sprint(r)}
		}
	}()
	var result interface{}
	var err error
	if c.Kind == "when" {
		var ex *govaluate.EvaluableExpression
		ex, err = govaluate.NewEvaluableExpression(c.Src)
		if err == nil {
			toks := ex.Tokens()
			for i, t := range toks {
				if t.Kind == govaluate.VARIABLE {
					t.Kind = govaluate.STRING
					toks[i] = t
				}
			}
			ex, err = govaluate.NewEvaluableExpressionFromTokens(toks)
			if err == nil {
				result, err = ex.Evaluate(nil)
			}
		}
	} else {
		e := env(c.Scope)
		p, cerr := expr.Compile(c.Src, expr.Env(e))
		if cerr != nil {
			err = cerr
		} else {
			result, err = expr.Run(p, e)
		}
	}
	if err != nil {
		return Out{Ok: false, Err: err.Error()}
	}
	b, jerr := json.Marshal(result)
	js := string(b)
	if jerr != nil {
		js = "ERR:" + jerr.Error()
	}
	return Out{Ok: true, Type: fmt.Sprintf("%T", result), JSON: js, Sprint: fmt.Sprintf("%v", result)}
}

func main() {
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	enc := json.NewEncoder(os.Stdout)
	for sc.Scan() {
		var c Case
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			enc.Encode(Out{Ok: false, Err: "bad case: " + err.Error()})
			continue
		}
		enc.Encode(run(c))
	}
}
