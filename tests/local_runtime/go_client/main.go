// Command go_client stands in for the original service's Go client (eshttp/ and estypes/ as read in
// /work/shared/reference/original-service.md): its types, its requests (http.Get for reads, a plain
// http.Client for writes, `nextPageKey` as the listing's page key, `updated-after` as RFC3339Nano in
// UTC, no `limit`), made to sign by the transport of docs/compatibility.md and nothing else.
// It runs one session against the API named by its argument and prints what it saw as JSON.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"

	"example.com/sigv4"
)

// estypes, as the original client declares them: payloads are strings.

type Stream struct {
	StreamId   string    `json:"streamId"`
	StreamType string    `json:"streamType"`
	Revision   int       `json:"revision"`
	UpdatedAt  time.Time `json:"updatedAt"`
}

type Event struct {
	StreamId  string    `json:"streamId"`
	Revision  int       `json:"revision"`
	EventType string    `json:"eventType"`
	Payload   string    `json:"payload"`
	CreatedAt time.Time `json:"createdAt"`
}

type NewEsEvent struct {
	EventType string `json:"eventType"`
	Payload   string `json:"payload"`
}

type EventPage struct {
	Events                []Event `json:"events"`
	HasMore               bool    `json:"hasMore"`
	LastEvaluatedRevision int     `json:"lastEvaluatedRevision"`
}

type StreamPage struct {
	Streams     []Stream `json:"streams"`
	HasMore     bool     `json:"hasMore"`
	NextPageKey string   `json:"nextPageKey"`
}

// StatusError keeps an error body as raw text, as the original client does.
type StatusError struct {
	Status int
	Body   string
}

func (e *StatusError) Error() string { return fmt.Sprintf("status %d: %s", e.Status, e.Body) }

// eshttp: reads with http.Get (http.DefaultClient), writes with a plain http.Client.

type Client struct {
	BaseURL string
	HTTP    *http.Client
}

func decode(resp *http.Response, err error, want int, into any) error {
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != want {
		return &StatusError{resp.StatusCode, string(body)}
	}
	return json.Unmarshal(body, into)
}

func (c *Client) write(method, path string, body any) (Stream, error) {
	data, err := json.Marshal(body)
	if err != nil {
		return Stream{}, err
	}
	req, err := http.NewRequest(method, c.BaseURL+path, bytes.NewReader(data))
	if err != nil {
		return Stream{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	var out struct {
		Stream Stream `json:"stream"`
	}
	resp, err := c.HTTP.Do(req)
	return out.Stream, decode(resp, err, http.StatusCreated, &out)
}

func (c *Client) CreateStream(streamType string, initial NewEsEvent) (Stream, error) {
	return c.write(http.MethodPost, "/streams/"+streamType, map[string]NewEsEvent{"initialEvent": initial})
}

func (c *Client) AppendEvent(streamType, streamId string, revision int, event NewEsEvent) (Stream, error) {
	path := fmt.Sprintf("/streams/%s/%s/events/%d", streamType, streamId, revision)
	return c.write(http.MethodPut, path, map[string]NewEsEvent{"event": event})
}

func (c *Client) GetEvents(streamType, streamId string, afterRevision int) (EventPage, error) {
	var out struct {
		EventPage EventPage `json:"eventPage"`
	}
	path := fmt.Sprintf("/streams/%s/%s/events?after-revision=%d", streamType, streamId, afterRevision)
	resp, err := http.Get(c.BaseURL + path)
	return out.EventPage, decode(resp, err, http.StatusOK, &out)
}

func (c *Client) GetStreams(streamType string, updatedAfter time.Time, nextPageKey string) (StreamPage, error) {
	query := url.Values{"updated-after": {updatedAfter.UTC().Format(time.RFC3339Nano)}}
	if nextPageKey != "" {
		query.Set("nextPageKey", nextPageKey)
	}
	var out struct {
		StreamPage StreamPage `json:"streamPage"`
	}
	resp, err := http.Get(c.BaseURL + "/streams/" + streamType + "?" + query.Encode())
	return out.StreamPage, decode(resp, err, http.StatusOK, &out)
}

func (c *Client) GetDetails(streamType, streamId string) (Stream, error) {
	var out struct {
		Stream Stream `json:"stream"`
	}
	resp, err := http.Get(fmt.Sprintf("%s/streams/%s/%s/details", c.BaseURL, streamType, streamId))
	return out.Stream, decode(resp, err, http.StatusOK, &out)
}

// The session the test checks.

type Report struct {
	UnsignedStatus int      `json:"unsignedStatus"`
	Created        []string `json:"created"`
	Listed         []string `json:"listed"`
	ListingPages   int      `json:"listingPages"`
	Payloads       []string `json:"payloads"`
	EventPages     int      `json:"eventPages"`
	Revisions      []int    `json:"revisions"`
	Details        Stream   `json:"details"`
	ConflictStatus int      `json:"conflictStatus"`
	ConflictBody   string   `json:"conflictBody"`
}

const (
	streams  = 101 // one more than a page: the listing needs a second page
	events   = 102 // likewise for a stream's events
	maxPages = 10  // a page key the server ignored would repeat page one forever
)

// The first payload has what json.Marshal escapes (<, &, >, U+2028) and what it does not (ü).
const firstJSON = "{\"orderId\":42,\"note\":\"<a & b> \u2028 ü\"}"

func run(baseURL, streamType string) (Report, error) {
	var report Report
	unsigned, err := (&http.Client{}).Get(baseURL + "/liveness-check")
	if err != nil {
		return report, err
	}
	unsigned.Body.Close()
	report.UnsignedStatus = unsigned.StatusCode

	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		return report, err
	}
	signing := &sigv4.Transport{Credentials: cfg.Credentials, Region: cfg.Region}
	http.DefaultClient.Transport = signing // the original client's http.Get calls
	client := &Client{BaseURL: baseURL, HTTP: &http.Client{Transport: signing}}

	since := time.Now()
	for i := 0; i < streams; i++ {
		payload := firstJSON
		if i > 0 {
			payload = `{"n":` + strconv.Itoa(i) + `}`
		}
		stream, err := client.CreateStream(streamType, NewEsEvent{"OrderPlaced", payload})
		if err != nil {
			return report, err
		}
		report.Created = append(report.Created, stream.StreamId)
	}
	first := report.Created[0]
	for revision := 2; revision <= events; revision++ {
		payload := strconv.Quote(strconv.Itoa(revision)) // a JSON string inside the string
		if _, err := client.AppendEvent(streamType, first, revision, NewEsEvent{"OrderNoted", payload}); err != nil {
			return report, err
		}
	}
	_, err = client.AppendEvent(streamType, first, 2, NewEsEvent{"OrderNoted", "{}"})
	if conflict, ok := err.(*StatusError); ok {
		report.ConflictStatus, report.ConflictBody = conflict.Status, conflict.Body
	} else {
		return report, fmt.Errorf("a stale revision was not refused with a status: %v", err)
	}

	after := 0
	for report.EventPages < maxPages {
		page, err := client.GetEvents(streamType, first, after)
		if err != nil {
			return report, err
		}
		report.EventPages++
		for _, event := range page.Events {
			report.Revisions = append(report.Revisions, event.Revision)
			report.Payloads = append(report.Payloads, event.Payload)
		}
		if !page.HasMore {
			break
		}
		after = page.LastEvaluatedRevision
	}

	time.Sleep(1500 * time.Millisecond) // the listing shows updates once they are a second old
	key := ""
	for report.ListingPages < maxPages {
		page, err := client.GetStreams(streamType, since, key)
		if err != nil {
			return report, err
		}
		report.ListingPages++
		for _, stream := range page.Streams {
			report.Listed = append(report.Listed, stream.StreamId)
		}
		if !page.HasMore {
			break
		}
		key = page.NextPageKey
	}

	report.Details, err = client.GetDetails(streamType, first)
	return report, err
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: go_client API_URL STREAM_TYPE")
		os.Exit(2)
	}
	report, err := run(os.Args[1], os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := json.NewEncoder(os.Stdout).Encode(report); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
