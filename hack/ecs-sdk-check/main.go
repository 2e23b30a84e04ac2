// ecs-sdk-check drives an ECS endpoint with the AWS SDK for Go v2 (the SDK behind Terraform's
// AWS provider and ecspresso) through a service's life:
//
//	create-cluster -> register-task-definition -> create-service -> wait services-stable ->
//	register a new revision -> update-service -> wait services-stable ->
//	delete-service (force) -> wait services-inactive
//
// Credentials are static, from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; the region from
// --region (default $AWS_REGION, else $AWS_DEFAULT_REGION). Every step is printed; any failure
// exits 1, and an operation the endpoint does not serve (UnknownOperationException) exits 3
// naming it, so a caller can tell "not implemented yet" from "wrong".
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"
)

const exitUnsupported = 3

type checker struct {
	client  *ecs.Client
	cluster string
	family  string
	service string
	wait    time.Duration
}

func main() {
	endpoint := flag.String("endpoint", "", "the ECS endpoint URL (required)")
	region := flag.String("region", firstNonEmpty(os.Getenv("AWS_REGION"), os.Getenv("AWS_DEFAULT_REGION")), "region")
	cluster := flag.String("cluster", "default", "cluster to create (if missing) and use")
	family := flag.String("family", "sdk-check", "task definition family")
	service := flag.String("service", "sdk-check", "service name")
	wait := flag.Duration("wait", 3*time.Minute, "how long each waiter may wait")
	flag.Parse()
	if *endpoint == "" || *region == "" {
		fmt.Fprintln(os.Stderr, "usage: ecs-sdk-check --endpoint URL [--region R] (credentials in AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)")
		os.Exit(2)
	}
	keyID, secret := os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY")
	if keyID == "" || secret == "" {
		fmt.Fprintln(os.Stderr, "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set")
		os.Exit(2)
	}

	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx,
		config.WithRegion(*region),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(keyID, secret, "")),
		config.WithRetryMaxAttempts(2),
	)
	if err != nil {
		fail("load config", err)
	}
	c := &checker{
		client: ecs.NewFromConfig(cfg, func(o *ecs.Options) {
			o.BaseEndpoint = aws.String(*endpoint)
		}),
		cluster: *cluster,
		family:  *family,
		service: *service,
		wait:    *wait,
	}
	c.run(ctx)
	fmt.Println("OK")
}

func (c *checker) run(ctx context.Context) {
	cl, err := c.client.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(c.cluster)})
	check(err, "create-cluster")
	step("create-cluster", nil, "%s %s", aws.ToString(cl.Cluster.ClusterArn), aws.ToString(cl.Cluster.Status))

	first := c.register(ctx, "nginx:1.27")
	created, err := c.client.CreateService(ctx, &ecs.CreateServiceInput{
		Cluster:        aws.String(c.cluster),
		ServiceName:    aws.String(c.service),
		TaskDefinition: aws.String(first),
		DesiredCount:   aws.Int32(2),
	})
	check(err, "create-service")
	step("create-service", nil, "%s", describeService(created.Service))
	if !hasPrimary(created.Service) {
		fail("create-service", errors.New("the answer shows no PRIMARY deployment"))
	}

	c.waitStable(ctx, first)

	second := c.register(ctx, "nginx:1.28")
	updated, err := c.client.UpdateService(ctx, &ecs.UpdateServiceInput{
		Cluster:        aws.String(c.cluster),
		Service:        aws.String(c.service),
		TaskDefinition: aws.String(second),
	})
	check(err, "update-service")
	step("update-service", nil, "%s", describeService(updated.Service))

	c.waitStable(ctx, second)

	deleted, err := c.client.DeleteService(ctx, &ecs.DeleteServiceInput{
		Cluster: aws.String(c.cluster),
		Service: aws.String(c.service),
		Force:   aws.Bool(true),
	})
	check(err, "delete-service")
	step("delete-service", nil, "%s", describeService(deleted.Service))

	start := time.Now()
	err = ecs.NewServicesInactiveWaiter(c.client, func(o *ecs.ServicesInactiveWaiterOptions) {
		o.MinDelay, o.MaxDelay = time.Second, 3*time.Second
	}).Wait(ctx, c.describeInput(), c.wait)
	step("wait services-inactive", err, "after %s", time.Since(start).Round(time.Second))
}

// register registers the family with one container running image; its ARN.
func (c *checker) register(ctx context.Context, image string) string {
	out, err := c.client.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
		Family: aws.String(c.family),
		ContainerDefinitions: []types.ContainerDefinition{{
			Name:      aws.String("web"),
			Image:     aws.String(image),
			Memory:    aws.Int32(128),
			Essential: aws.Bool(true),
		}},
		Tags: []types.Tag{{Key: aws.String("checked-by"), Value: aws.String("ecs-sdk-check")}},
	})
	arn := ""
	if err == nil && out.TaskDefinition != nil {
		arn = aws.ToString(out.TaskDefinition.TaskDefinitionArn)
	}
	step("register-task-definition", err, "%s (%s)", arn, image)
	if arn == "" {
		fail("register-task-definition", errors.New("no taskDefinitionArn in the answer"))
	}
	return arn
}

// waitStable waits for services-stable, then checks that the service runs taskDefinition.
func (c *checker) waitStable(ctx context.Context, taskDefinition string) {
	start := time.Now()
	err := ecs.NewServicesStableWaiter(c.client, func(o *ecs.ServicesStableWaiterOptions) {
		o.MinDelay, o.MaxDelay = time.Second, 3*time.Second
	}).Wait(ctx, c.describeInput(), c.wait)
	step("wait services-stable", err, "after %s", time.Since(start).Round(time.Second))
	out, err := c.client.DescribeServices(ctx, c.describeInput())
	if err == nil && len(out.Services) != 1 {
		err = fmt.Errorf("expected one service, got %d (failures %+v)", len(out.Services), out.Failures)
	}
	if err == nil && aws.ToString(out.Services[0].TaskDefinition) != taskDefinition {
		err = fmt.Errorf("the service runs %s, not %s", aws.ToString(out.Services[0].TaskDefinition), taskDefinition)
	}
	step("describe-services", err, "%s", describeServices(out))
}

func (c *checker) describeInput() *ecs.DescribeServicesInput {
	return &ecs.DescribeServicesInput{Cluster: aws.String(c.cluster), Services: []string{c.service}}
}

func hasPrimary(s *types.Service) bool {
	return s != nil && len(s.Deployments) > 0 && aws.ToString(s.Deployments[0].Status) == "PRIMARY"
}

func describeServices(out *ecs.DescribeServicesOutput) string {
	if out == nil || len(out.Services) == 0 {
		return "no service"
	}
	return describeService(&out.Services[0])
}

func describeService(s *types.Service) string {
	if s == nil {
		return "no service"
	}
	deployments := make([]string, 0, len(s.Deployments))
	for _, d := range s.Deployments {
		deployments = append(deployments, fmt.Sprintf("%s(%s %d/%d)", aws.ToString(d.Status), aws.ToString(d.TaskDefinition), d.RunningCount, d.DesiredCount))
	}
	return fmt.Sprintf("%s status=%s desired=%d running=%d pending=%d taskDefinition=%s deployments=%v",
		aws.ToString(s.ServiceArn), aws.ToString(s.Status), s.DesiredCount, s.RunningCount, s.PendingCount,
		aws.ToString(s.TaskDefinition), deployments)
}

// step prints a step's outcome; a failure ends the program.
func step(name string, err error, format string, args ...any) {
	if err != nil {
		fail(name, err)
	}
	fmt.Printf("ok   %-26s %s\n", name, fmt.Sprintf(format, args...))
}

// check ends the program when err is an error of step name.
func check(err error, name string) {
	if err != nil {
		fail(name, err)
	}
}

func fail(name string, err error) {
	var api smithy.APIError
	if errors.As(err, &api) && api.ErrorCode() == "UnknownOperationException" {
		fmt.Printf("MISSING %s: the endpoint does not serve this operation yet: %s\n", name, api.ErrorMessage())
		os.Exit(exitUnsupported)
	}
	fmt.Printf("FAIL %-26s %v\n", name, err)
	os.Exit(1)
}

func firstNonEmpty(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}
